import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type DitForwardInput,
  type DitTensor,
  loadTransformer,
  readSafetensors,
  type Transformer,
} from "@sana-edge/native";
import { beforeAll, describe, expect, it } from "vitest";
import { casesDir, goldenDir, modelsDir } from "./helpers/fixtures.js";

interface ManifestCase {
  name: string;
  file: string;
  model: string;
  component: string;
  outputs: Record<string, { shape: number[] }>;
  tolerance: Record<string, number | string>;
}

const manifest = JSON.parse(readFileSync(join(casesDir, "manifest.json"), "utf8")) as {
  cases: ManifestCase[];
  models: Record<string, { path: string }>;
};
const transformerCases = manifest.cases.filter((c) => c.component === "transformer");

function relL2(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = (actual[i] ?? Number.NaN) - (expected[i] ?? 0);
    diff += d * d;
    norm += (expected[i] ?? 0) ** 2;
  }
  return Math.sqrt(diff / norm);
}

function floats(contents: ReturnType<typeof readSafetensors>, name: string): Float32Array {
  const entry = contents[name];
  if (entry === undefined) throw new Error(`missing tensor ${name}`);
  if (entry.data instanceof Float32Array) return entry.data;
  if (entry.data instanceof BigInt64Array) return Float32Array.from(entry.data, (v) => Number(v));
  return Float32Array.from(entry.data);
}

function shapeOf(contents: ReturnType<typeof readSafetensors>, name: string): number[] {
  const entry = contents[name];
  if (entry === undefined) throw new Error(`missing tensor ${name}`);
  return entry.shape;
}

/** The forward() input of a golden case, exactly as diffusers received it. */
function caseInput(contents: ReturnType<typeof readSafetensors>): DitForwardInput {
  const mask = contents.encoder_attention_mask;
  if (mask === undefined || !(mask.data instanceof BigInt64Array)) throw new Error("mask must be int64");
  const input: DitForwardInput = {
    hiddenStates: floats(contents, "hidden_states"),
    shape: shapeOf(contents, "hidden_states"),
    encoderHiddenStates: floats(contents, "encoder_hidden_states"),
    encoderShape: shapeOf(contents, "encoder_hidden_states"),
    encoderMask: mask.data,
    timestep: floats(contents, "timestep"),
  };
  if (contents.guidance !== undefined) input.guidance = floats(contents, "guidance");
  return input;
}

function modelPath(model: string): string {
  const entry = manifest.models[model];
  if (entry === undefined) throw new Error(`manifest has no model ${model}`);
  return join(goldenDir, entry.path);
}

describe("SanaTransformer2DModel.forward against diffusers (golden transformer cases)", () => {
  it("the manifest lists the five transformer variants", () => {
    expect(transformerCases.map((c) => c.model).sort()).toEqual([
      "tiny-sana",
      "tiny-sana-1.5",
      "tiny-sana-4k",
      "tiny-sana-sprint",
      "tiny-sana-sprint-teacher",
    ]);
  });

  it.each(transformerCases.map((c) => [c.name, c] as const))(
    "%s: every output within its manifest tolerance",
    async (_name, testCase) => {
      const contents = readSafetensors(join(goldenDir, testCase.file));
      const transformer = await loadTransformer(modelPath(testCase.model));
      const result = await transformer.forward(caseInput(contents), { capture: true });
      const produced: Record<string, DitTensor> = { ...result.intermediates, sample: result.sample };
      const errors: Record<string, number> = {};
      for (const [name, spec] of Object.entries(testCase.outputs)) {
        const tensor = produced[name];
        expect(tensor, `${testCase.name}: output ${name}`).toBeDefined();
        if (tensor === undefined) continue;
        expect(tensor.shape).toEqual(spec.shape);
        errors[name] = relL2(tensor.data, floats(contents, name));
      }
      console.log(`${testCase.name} rel. L2: ${JSON.stringify(errors)}`);
      for (const [name, error] of Object.entries(errors)) {
        const tolerance = testCase.tolerance[name];
        if (typeof tolerance !== "number")
          throw new Error(`${testCase.name}: no numeric tolerance for ${name}`);
        expect(error, `${testCase.name}: ${name}`).toBeLessThanOrEqual(tolerance);
      }
    },
  );
});

describe("transformer API behaviour", () => {
  const sanaCase = transformerCases.find((c) => c.model === "tiny-sana");
  if (sanaCase === undefined) throw new Error("no tiny-sana transformer case");
  const contents = readSafetensors(join(goldenDir, sanaCase.file));
  const input = caseInput(contents);
  const expected = floats(contents, "sample");
  let transformer: Transformer;

  beforeAll(async () => {
    transformer = await loadTransformer(join(modelsDir, "tiny-sana"));
  });

  it("accepts the transformer/ folder itself and reports its config", async () => {
    const direct = await loadTransformer(join(modelsDir, "tiny-sana", "transformer"));
    expect(direct.config).toMatchObject({ numLayers: 2, innerDim: 32, captionChannels: 32, qkNorm: false });
    expect(direct.backend).toBe("cpu");
  });

  it("reuses an encoded caption across steps with the same result as encoding inline", async () => {
    const { encoderHiddenStates, encoderShape, encoderMask } = input;
    if (encoderHiddenStates === undefined || encoderShape === undefined)
      throw new Error("case has no caption");
    const text = await transformer.encodeText(
      encoderMask === undefined
        ? { encoderHiddenStates, encoderShape }
        : { encoderHiddenStates, encoderShape, encoderMask },
      { capture: true },
    );
    expect(text.intermediates?.caption_norm_out?.shape).toEqual([2, 20, 32]);
    const step = { hiddenStates: input.hiddenStates, shape: input.shape, timestep: input.timestep, text };
    const first = await transformer.forward(step);
    const second = await transformer.forward(step);
    expect(relL2(first.sample.data, expected)).toBeLessThan(1e-5);
    expect(second.sample.data).toEqual(first.sample.data);
  });

  it("lets batch items share one encoded prompt through textIndex", async () => {
    const { encoderHiddenStates, encoderMask } = input;
    if (encoderHiddenStates === undefined || !(encoderMask instanceof BigInt64Array))
      throw new Error("bad case");
    // Prompt 1 alone, used by both latent items, must match the batch where it is repeated.
    const prompt1 = encoderHiddenStates.slice(20 * 32);
    const mask1 = encoderMask.slice(20);
    const shared = await transformer.forward({
      ...input,
      encoderHiddenStates: prompt1,
      encoderShape: [1, 20, 32],
      encoderMask: mask1,
      textIndex: [0, 0],
    });
    const repeated = await transformer.forward({
      ...input,
      encoderHiddenStates: Float32Array.from([...prompt1, ...prompt1]),
      encoderMask: BigInt64Array.from([...mask1, ...mask1]),
    });
    expect(relL2(shared.sample.data, repeated.sample.data)).toBeLessThan(1e-6);
    expect(relL2(shared.sample.data, expected)).toBeGreaterThan(1e-3);
  });

  it("computes each batch item independently of the others", async () => {
    const { encoderHiddenStates, encoderMask } = input;
    if (encoderHiddenStates === undefined || !(encoderMask instanceof BigInt64Array))
      throw new Error("bad case");
    const single = await transformer.forward({
      hiddenStates: input.hiddenStates.slice(8 * 60),
      shape: [1, 8, 6, 10],
      encoderHiddenStates: encoderHiddenStates.slice(20 * 32),
      encoderShape: [1, 20, 32],
      encoderMask: encoderMask.slice(20),
      timestep: [Number(floats(contents, "timestep")[1])],
    });
    expect(relL2(single.sample.data, expected.slice(8 * 60))).toBeLessThan(1e-5);
  });

  it("PAG replaces the perturbed item's self-attention and leaves the others alone", async () => {
    const all = [0, 1];
    const pag = await transformer.forward({ ...input, pagLayers: all, perturbed: [false, true] });
    const half = 8 * 60;
    // tiny-sana has no qk-norm, so the unperturbed item is exactly the plain forward.
    expect(relL2(pag.sample.data.slice(0, half), expected.slice(0, half))).toBeLessThan(1e-5);
    expect(relL2(pag.sample.data.slice(half), expected.slice(half))).toBeGreaterThan(1e-2);
    const onlyLayer1 = await transformer.forward({ ...input, pagLayers: [1], perturbed: [false, true] });
    expect(relL2(onlyLayer1.sample.data.slice(half), pag.sample.data.slice(half))).toBeGreaterThan(1e-3);
  });

  it("PAG layers skip qk-norm for every item, as diffusers' PAG processors do", async () => {
    const caseQk = transformerCases.find((c) => c.model === "tiny-sana-1.5");
    if (caseQk === undefined) throw new Error("no tiny-sana-1.5 case");
    const qkContents = readSafetensors(join(goldenDir, caseQk.file));
    const qk = await loadTransformer(modelPath(caseQk.model));
    const plain = await qk.forward(caseInput(qkContents));
    const pag = await qk.forward({ ...caseInput(qkContents), pagLayers: [0], perturbed: [false, false] });
    expect(relL2(pag.sample.data, plain.sample.data)).toBeGreaterThan(1e-3);
  });

  it("rejects inputs that do not fit the model, naming the problem", async () => {
    await expect(transformer.forward({ ...input, shape: [2, 4, 6, 10] })).rejects.toThrow(
      /shape must be \[batch, 8/,
    );
    await expect(transformer.forward({ ...input, timestep: [1, 2, 3] })).rejects.toThrow(
      /timestep needs 1 or batch/,
    );
    await expect(transformer.forward({ ...input, encoderShape: [2, 20, 16] })).rejects.toThrow(
      /encoderShape/,
    );
    await expect(transformer.forward({ ...input, pagLayers: [5] })).rejects.toThrow(/pagLayers/);
    const sprint = await loadTransformer(join(modelsDir, "tiny-sana-sprint"));
    await expect(sprint.forward(input)).rejects.toThrow(/guidance is required/);
    await expect(loadTransformer(join(modelsDir, "missing"))).rejects.toThrow(/missing/);
  });
});
