import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTextEncoder, type NativeTextEncoder, SanaTextEncoder } from "@sana-edge/native";
import { beforeAll, describe, expect, it } from "vitest";
import { casesDir, copyModel, editJson, makeTempDir, modelsDir } from "./helpers/fixtures.js";
import { bigInt64Values, float32Values, rawTensors } from "./helpers/safetensors.js";

interface TextEncoderCase {
  name: string;
  file: string;
  component: string;
  params: { prompts: string[]; complex_human_instruction: string[] | null; max_sequence_length: number };
  tolerance: { last_hidden_state: number; prompt_embeds: number };
}

const manifest = JSON.parse(readFileSync(join(casesDir, "manifest.json"), "utf8")) as {
  cases: TextEncoderCase[];
};
const cases = manifest.cases.filter((c) => c.component === "text_encoder");
const tinySana = join(modelsDir, "tiny-sana");

function caseTensors(c: TextEncoderCase) {
  const raw = rawTensors(join(casesDir, c.file.replace(/^cases\//, "")));
  const get = (name: string) => {
    const t = raw[name];
    if (t === undefined) throw new Error(`${c.name}: no tensor ${name}`);
    return t;
  };
  const ids = get("input_ids");
  return {
    shape: ids.shape as [number, number],
    inputIds: bigInt64Values(ids.bytes),
    attentionMask: bigInt64Values(get("attention_mask").bytes),
    lastHiddenState: float32Values(get("last_hidden_state").bytes),
    promptEmbeds: float32Values(get("prompt_embeds").bytes),
    promptMask: Array.from(bigInt64Values(get("prompt_attention_mask").bytes), Number),
    promptShape: get("prompt_embeds").shape,
  };
}

/** ||a - b|| / ||b|| over the rows (of `width` values) whose mask is 1, or over all rows. */
function relL2(a: Float32Array, b: Float32Array, width: number, mask?: ArrayLike<number | bigint>): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < b.length; i++) {
    if (mask !== undefined && Number(mask[Math.floor(i / width)]) !== 1) continue;
    const x = a[i] as number;
    const y = b[i] as number;
    diff += (x - y) ** 2;
    ref += y * y;
  }
  return Math.sqrt(diff) / Math.sqrt(ref);
}

describe("Gemma-2 text encoder on the golden cases", () => {
  let encoder: NativeTextEncoder;
  beforeAll(async () => {
    encoder = await loadTextEncoder(tinySana);
  });

  it("reads the tiny model's config: GQA, soft-capping, alternating sliding layers", () => {
    expect(encoder.config).toMatchObject({
      hiddenSize: 32,
      numHiddenLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 16,
      queryPreAttnScalar: 24,
      attnLogitSoftcapping: 8,
      slidingWindow: 4,
      layerTypes: ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    });
    expect(encoder.backend).toBe("cpu");
    expect(encoder.weightsDtype).toBe("F32");
  });

  it.each(cases.map((c) => [c.name, c] as const))(
    "%s: last_hidden_state matches transformers at every token within tolerance",
    async (_name, c) => {
      const t = caseTensors(c);
      const hidden = await encoder.encode(t.inputIds, t.attentionMask, t.shape);
      expect(hidden.length).toBe(t.lastHiddenState.length);
      const error = relL2(hidden, t.lastHiddenState, 32, t.attentionMask);
      console.info(`${c.name}: last_hidden_state rel L2 (valid positions) ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(c.tolerance.last_hidden_state);
    },
  );

  it.each(cases.map((c) => [c.name, c] as const))(
    "%s: padded positions reproduce eager attention's uniform average over all keys",
    async (_name, c) => {
      const t = caseTensors(c);
      const hidden = await encoder.encode(t.inputIds, t.attentionMask, t.shape);
      // Over the whole tensor, padding included: only exact eager semantics get this close.
      expect(relL2(hidden, t.lastHiddenState, 32)).toBeLessThanOrEqual(c.tolerance.last_hidden_state);
    },
  );

  it("rejects ids outside the vocabulary, naming the position", async () => {
    const ids = new Int32Array([2, 5, 3000, 0]);
    await expect(encoder.encode(ids, new Int32Array([1, 1, 1, 0]), [1, 4])).rejects.toThrow(
      /input_ids\[0\]\[2\] = 3000 is outside the vocabulary \[0, 3000\)/,
    );
  });

  it("rejects a shape that does not match the arrays and a mask that is not 0/1", async () => {
    await expect(encoder.encode(new Int32Array(6), new Int32Array(6), [2, 4])).rejects.toThrow(
      /inputIds has 6 values, shape \[2, 4\] needs 8/,
    );
    await expect(encoder.encode(new Int32Array(2), new Int32Array([1, 2]), [1, 2])).rejects.toThrow(
      /attention_mask\[0\]\[1\] = 2, expected 0 or 1/,
    );
    await expect(
      encoder.encode(new Float32Array(2) as unknown as Int32Array, new Int32Array(2), [1, 2]),
    ).rejects.toThrow(TypeError);
  });

  it("serves concurrent calls on one encoder with the results of separate calls", async () => {
    const [a, b] = cases.map(caseTensors);
    if (a === undefined || b === undefined) throw new Error("expected two text_encoder cases");
    const [ra, rb] = await Promise.all([
      encoder.encode(a.inputIds, a.attentionMask, a.shape),
      encoder.encode(b.inputIds, b.attentionMask, b.shape),
    ]);
    expect(ra).toEqual(await encoder.encode(a.inputIds, a.attentionMask, a.shape));
    expect(rb).toEqual(await encoder.encode(b.inputIds, b.attentionMask, b.shape));
  });
});

describe("encodePrompt: tokenizer + encoder + select_index as SanaPipeline.encode_prompt", () => {
  let sana: SanaTextEncoder;
  beforeAll(async () => {
    sana = await SanaTextEncoder.load(tinySana);
  });

  it.each(cases.map((c) => [c.name, c] as const))(
    "%s: prompt_embeds and prompt_attention_mask match from the prompt strings",
    async (_name, c) => {
      const t = caseTensors(c);
      const out = await sana.encodePrompt(c.params.prompts, {
        complexHumanInstruction: c.params.complex_human_instruction ?? false,
        maxSequenceLength: c.params.max_sequence_length,
      });
      expect(out.shape).toEqual(t.promptShape);
      expect([out.batch, out.tokens]).toEqual(t.promptShape.slice(0, 2));
      expect(Array.from(out.mask)).toEqual(t.promptMask);
      const error = relL2(out.embeds, t.promptEmbeds, 32, t.promptMask);
      console.info(`${c.name}: prompt_embeds rel L2 (valid positions) ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(c.tolerance.prompt_embeds);
    },
  );

  it("defaults to the pipeline's complex human instruction and 300 tokens for one prompt string", async () => {
    const chiCase = cases.find((c) => c.params.complex_human_instruction !== null) as TextEncoderCase;
    expect(chiCase.params.max_sequence_length).toBe(300);
    const t = caseTensors(chiCase);
    const out = await sana.encodePrompt(chiCase.params.prompts[0] as string);
    expect(out.shape).toEqual([1, 300, 32]);
    const row = 300 * 32;
    const mask = t.promptMask.slice(0, 300);
    expect(Array.from(out.mask)).toEqual(mask);
    expect(relL2(out.embeds, t.promptEmbeds.subarray(0, row), 32, mask)).toBeLessThanOrEqual(
      chiCase.tolerance.prompt_embeds,
    );
  });
});

describe("loading a text encoder", () => {
  it("names the config key it cannot support", async () => {
    const dir = makeTempDir("gemma");
    try {
      const model = copyModel(dir.path, "tiny-sana");
      editJson(join(model, "text_encoder", "config.json"), (c) => {
        c.hidden_activation = "gelu";
      });
      await expect(loadTextEncoder(model)).rejects.toThrow(
        /"hidden_activation" is "gelu", only "gelu_pytorch_tanh"/,
      );
    } finally {
      dir.remove();
    }
  });

  it("falls back to Gemma2Config's defaults: even layers slide, rope_theta at the top level", async () => {
    const dir = makeTempDir("gemma");
    try {
      const model = copyModel(dir.path, "tiny-sana");
      editJson(join(model, "text_encoder", "config.json"), (c) => {
        delete c.layer_types;
        delete c.rope_parameters;
      });
      const encoder = await loadTextEncoder(model);
      expect(encoder.config.layerTypes).toEqual([
        "sliding_attention",
        "full_attention",
        "sliding_attention",
        "full_attention",
      ]);
      expect(encoder.config.ropeTheta).toBe(10000);
      const c = cases[0] as TextEncoderCase;
      const t = caseTensors(c);
      const hidden = await encoder.encode(t.inputIds, t.attentionMask, t.shape);
      expect(relL2(hidden, t.lastHiddenState, 32, t.attentionMask)).toBeLessThanOrEqual(
        c.tolerance.last_hidden_state,
      );
    } finally {
      dir.remove();
    }
  });

  it.each([
    [
      "no sliding window",
      { layer_types: ["full_attention", "full_attention", "full_attention", "full_attention"] },
    ],
    ["no soft-capping", { attn_logit_softcapping: null }],
    ["the head_dim scale", { query_pre_attn_scalar: 16 }],
  ] as const)("computes something else with %s (each switch is live)", async (_label, change) => {
    const dir = makeTempDir("gemma");
    try {
      const model = copyModel(dir.path, "tiny-sana");
      editJson(join(model, "text_encoder", "config.json"), (c) => {
        Object.assign(c, change);
      });
      const encoder = await loadTextEncoder(model);
      const c = cases[0] as TextEncoderCase;
      const t = caseTensors(c);
      const hidden = await encoder.encode(t.inputIds, t.attentionMask, t.shape);
      expect(relL2(hidden, t.lastHiddenState, 32, t.attentionMask)).toBeGreaterThan(1e-2);
    } finally {
      dir.remove();
    }
  });

  it("rejects a folder without a text encoder", async () => {
    await expect(loadTextEncoder(join(modelsDir, "does-not-exist"))).rejects.toThrow(/does-not-exist/);
  });
});
