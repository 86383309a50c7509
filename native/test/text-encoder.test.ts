import { readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import {
  EmbeddingCache,
  type EncodedPrompt,
  loadDenoiser,
  loadTextEncoder,
  type NativeTextEncoder,
  SanaTextEncoder,
  Tokenizer,
  textModelIdentity,
} from "@sana-edge/native";
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

/** The encoder behind `sana`, recording the shape of every encode it runs. */
function recordingEncoder(inner: NativeTextEncoder) {
  const shapes: [number, number][] = [];
  const encoder: NativeTextEncoder = {
    config: inner.config,
    backend: inner.backend,
    weightsDtype: inner.weightsDtype,
    weightBytes: inner.weightBytes,
    encode: (ids, mask, shape) => {
      shapes.push([...shape]);
      return inner.encode(ids, mask, shape);
    },
  };
  return { encoder, shapes };
}

describe("encodePrompt: padding and the embedding cache", () => {
  let inner: NativeTextEncoder;
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    inner = await loadTextEncoder(tinySana);
    tokenizer = Tokenizer.fromFile(join(tinySana, "tokenizer", "tokenizer.json"));
  });
  const fresh = () => {
    const { encoder, shapes } = recordingEncoder(inner);
    return { sana: SanaTextEncoder.fromParts(tokenizer, encoder, "tiny-sana"), shapes };
  };

  it.each(cases.map((c) => [c.name, c] as const))(
    "%s: exactPadding false encodes up to the last token: valid positions as the full encode, padding 0",
    async (_name, c) => {
      const t = caseTensors(c);
      const options = {
        complexHumanInstruction: c.params.complex_human_instruction ?? false,
        maxSequenceLength: c.params.max_sequence_length,
      };
      const { sana, shapes } = fresh();
      const prompt = c.params.prompts[0] as string;
      const short = await sana.encodePrompt(prompt, { ...options, exactPadding: false });
      const exact = await sana.encodePrompt(prompt, options); // exactPadding by default
      const [, length] = t.shape;
      const valid = t.promptMask.slice(0, c.params.max_sequence_length);
      const tokensUsed = Number(t.attentionMask.slice(0, length).reduce((a, b) => a + b, 0n));
      expect(shapes).toEqual([
        [1, tokensUsed],
        [1, length],
      ]);
      expect(Array.from(short.mask)).toEqual(valid);
      expect(short.embeds.length).toBe(exact.embeds.length);
      // Valid positions: the same numbers (only GEMM blocking differs); padding: zeros.
      expect(relL2(short.embeds, exact.embeds, 32, valid)).toBeLessThan(1e-6);
      const padded = short.embeds.filter((_, i) => valid[Math.floor(i / 32)] === 0);
      expect(padded.length).toBeGreaterThan(0);
      expect(padded.every((v) => v === 0)).toBe(true);
      // The default reproduces transformers at every position, padding included.
      const row = c.params.max_sequence_length * 32;
      expect(relL2(exact.embeds, t.promptEmbeds.subarray(0, row), 32)).toBeLessThanOrEqual(
        c.tolerance.prompt_embeds,
      );
    },
  );

  it("leaves the denoised latents unchanged: the transformer masks the skipped positions out", async () => {
    const { sana } = fresh();
    const denoiser = await loadDenoiser(tinySana);
    const encode = (exactPadding: boolean) =>
      Promise.all([
        sana.encodePrompt("a tiny red house by a lake", { exactPadding }),
        sana.encodePrompt("", { complexHumanInstruction: false, exactPadding }),
      ]);
    const denoise = async ([prompt, negative]: EncodedPrompt[]) => {
      if (prompt === undefined || negative === undefined) throw new Error("two encodings expected");
      const request = {
        batch: 1,
        height: 4,
        width: 6,
        steps: 2,
        guidanceScale: 4.5,
        seed: 3,
        prompt,
        negative,
      };
      return (await denoiser.run(request)).latents;
    };
    const exact = await encode(true);
    // The padded rows' values have no effect at all: zeroing them gives the same bits.
    const zeroed = exact.map((e) => {
      const embeds = e.embeds.slice();
      e.mask.forEach((m, t) => {
        if (m === 0) embeds.fill(0, t * 32, (t + 1) * 32);
      });
      return { ...e, embeds };
    });
    expect(zeroed[1]?.embeds).not.toEqual(exact[1]?.embeds);
    const reference = await denoise(exact);
    expect(reference.length).toBeGreaterThan(0);
    expect(Buffer.from((await denoise(zeroed)).buffer).equals(Buffer.from(reference.buffer))).toBe(true);
    // The default encode differs from that only by GEMM rounding at the valid positions.
    expect(relL2(await denoise(await encode(false)), reference, 32)).toBeLessThan(1e-5);
  });

  it("serves a repeated prompt from the cache without running the encoder", async () => {
    const { sana, shapes } = fresh();
    const first = await sana.encodePrompt("a red fox in the snow");
    const second = await sana.encodePrompt("a red fox in the snow");
    expect(shapes).toHaveLength(1);
    expect(second.embeds).toEqual(first.embeds);
    expect(second.mask).toEqual(first.mask);
    expect(second.shape).toEqual(first.shape);
    expect(sana.embeddingCache.stats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it("encodes again for the other instruction flag, and batches reuse cached prompts", async () => {
    const { sana, shapes } = fresh();
    const withChi = await sana.encodePrompt("a lighthouse");
    const without = await sana.encodePrompt("a lighthouse", { complexHumanInstruction: false });
    expect(shapes).toHaveLength(2);
    expect(without.embeds).not.toEqual(withChi.embeds);
    const batch = await sana.encodePrompt(["", "a lighthouse"], { complexHumanInstruction: false });
    expect(shapes).toHaveLength(3); // only "" was new
    expect(batch.shape).toEqual([2, 300, 32]);
    expect(batch.embeds.subarray(300 * 32)).toEqual(without.embeds);
  });

  it("runs one encode for concurrent identical requests (prompt and negative prompt alike)", async () => {
    const { sana, shapes } = fresh();
    const [a, b] = await Promise.all([
      sana.encodePrompt("", { complexHumanInstruction: false, exactPadding: false }),
      sana.encodePrompt("", { complexHumanInstruction: false, exactPadding: false }),
    ]);
    expect(shapes).toEqual([[1, 1]]); // the empty prompt is <bos> alone
    expect(a.embeds).toEqual(b.embeds);
  });

  it("shares one cache between encoders of different models without mixing them up", async () => {
    const cache = new EmbeddingCache();
    const one = recordingEncoder(inner);
    const two = recordingEncoder(inner);
    const a = SanaTextEncoder.fromParts(tokenizer, one.encoder, "model-a", { embeddingCache: cache });
    const b = SanaTextEncoder.fromParts(tokenizer, two.encoder, "model-b", { embeddingCache: cache });
    await a.encodePrompt("a bridge");
    await b.encodePrompt("a bridge");
    await a.encodePrompt("a bridge");
    expect([one.shapes.length, two.shapes.length]).toEqual([1, 1]);
    expect(cache.stats()).toMatchObject({ entries: 2, hits: 1 });
  });
});

describe("loading a text encoder", () => {
  it("keys the cache by a model identity that changes when the weights change", async () => {
    const dir = makeTempDir("gemma");
    try {
      const model = copyModel(dir.path, "tiny-sana");
      const before = await textModelIdentity(model);
      expect(await textModelIdentity(model)).toBe(before);
      const weights = join(model, "text_encoder", "model.safetensors");
      utimesSync(weights, new Date(), new Date(Date.now() + 5000));
      expect(await textModelIdentity(model)).not.toBe(before);
      const sana = await SanaTextEncoder.load(model, { embeddingCache: 1 << 20 });
      expect(sana.modelIdentity).toBe(await textModelIdentity(model));
      expect(sana.embeddingCache.maxBytes).toBe(1 << 20);
    } finally {
      dir.remove();
    }
  });

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
