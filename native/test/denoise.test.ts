import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Denoiser,
  type DenoiseStep,
  denoiseWithSignal,
  float32Tensor,
  int64Tensor,
  loadDenoiser,
  readSafetensors,
} from "../lib/index.js";
import { casesDir, modelsDir } from "./helpers/fixtures.js";

// The denoising loop checked against SanaPipeline's own trajectory (pipeline_sana_cfg:
// CFG 4.5, DPM-Solver++ 4 steps, embeddings given), and its controls: cancellation,
// seeds, guidance switches and the errors a caller can cause.

function relL2(x: Float32Array, ref: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] ?? 0;
    num += ((x[i] ?? 0) - r) ** 2;
    den += r * r;
  }
  return Math.sqrt(num / den);
}

const caseData = readSafetensors(join(casesDir, "pipeline_sana_cfg.safetensors"));
const tensor = (name: string) => float32Tensor(caseData, name);
const embeds = tensor("encoder_hidden_states");
const maskI64 = int64Tensor(caseData, "encoder_attention_mask");
const mask = { data: Float32Array.from(maskI64.data, Number), shape: maskI64.shape };
const [, tokens = 0, channels = 0] = embeds.shape;
const half = 2 * tokens * channels;
const negative = {
  embeds: embeds.data.slice(0, half),
  mask: mask.data.slice(0, 2 * tokens),
  batch: 2,
  tokens,
};
const prompt = { embeds: embeds.data.slice(half), mask: mask.data.slice(2 * tokens), batch: 2, tokens };
const base = { batch: 2, height: 4, width: 6, steps: 4, guidanceScale: 4.5, prompt, negative };

let denoiser: Denoiser;
beforeAll(async () => {
  denoiser = await loadDenoiser(join(modelsDir, "tiny-sana"));
});

describe("denoise", () => {
  it("follows the reference pipeline's latents at every step with CFG", async () => {
    const steps: DenoiseStep[] = [];
    const result = await denoiser.run({ ...base, latents: tensor("latents").data }, (s) => steps.push(s));
    const ref = tensor("step_latents").data;
    const n = result.latents.length;
    expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
    for (const s of steps)
      expect(relL2(s.latents, ref.subarray(s.step * n, (s.step + 1) * n))).toBeLessThan(1e-4);
    expect(steps.map((s) => s.timestep)).toEqual(
      Array.from(tensor("transformer_timesteps").data.filter((_, i) => i % 4 === 0)),
    );
    expect(result.shape).toEqual([2, 8, 4, 6]);
    expect(result.cancelled).toBe(false);
  });

  it("stops the engine between steps when cancelled", async () => {
    const seen: number[] = [];
    const run = denoiser.run({ ...base, steps: 20, seed: 1 }, (s) => {
      seen.push(s.step);
      if (s.step === 1) denoiser.cancel();
    });
    const result = await run;
    expect(result.cancelled).toBe(true);
    expect(result.stepsCompleted).toBeLessThan(20);
    expect(seen.length).toBe(result.stepsCompleted);
    expect(result.latents.length).toBe(0);
  });

  it("cancels through an AbortSignal", async () => {
    const controller = new AbortController();
    const result = await denoiseWithSignal(
      denoiser,
      { ...base, steps: 30, seed: 2 },
      controller.signal,
      (s) => {
        if (s.step === 0) controller.abort();
      },
    );
    expect(result.cancelled).toBe(true);
    expect(result.stepsCompleted).toBeLessThan(30);
  });

  it("draws the same latents for the same seed and different ones for another", async () => {
    const a = await denoiser.run({ ...base, steps: 2, seed: 42 });
    const b = await denoiser.run({ ...base, steps: 2, seed: 42 });
    const c = await denoiser.run({ ...base, steps: 2, seed: 43 });
    expect(b.latents).toEqual(a.latents);
    expect(relL2(c.latents, a.latents)).toBeGreaterThan(0.1);
  });

  it("runs without an unconditional pass at guidance 1", async () => {
    const { negative: _unused, ...noNegative } = base;
    const result = await denoiser.run({ ...noNegative, guidanceScale: 1, latents: tensor("latents").data });
    expect(result.stepsCompleted).toBe(4);
    expect(result.latents.every(Number.isFinite)).toBe(true);
  });

  it("refuses guidance without negative embeddings, naming the problem", async () => {
    const { negative: _unused, ...noNegative } = base;
    await expect(denoiser.run({ ...noNegative, seed: 1 })).rejects.toThrow(/negative prompt embeddings/);
  });

  it("refuses embeddings whose size does not match their shape", async () => {
    const bad = { ...prompt, embeds: prompt.embeds.subarray(1) };
    await expect(denoiser.run({ ...base, prompt: bad, seed: 1 })).rejects.toThrow(
      /prompt embeddings: .* values/,
    );
  });

  it("refuses a second run while one is in flight", async () => {
    const first = denoiser.run({ ...base, steps: 10, seed: 3 });
    const second = denoiser.run({ ...base, steps: 1, seed: 3 });
    await expect(second).rejects.toThrow(/already running/);
    await first;
  });
});
