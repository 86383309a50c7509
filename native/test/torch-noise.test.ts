import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Denoiser,
  float32Tensor,
  int64Tensor,
  loadDenoiser,
  readSafetensors,
  torchRandn,
  torchRandnSequence,
} from "../lib/index.js";
import { casesDir, modelsDir } from "./helpers/fixtures.js";

// The engine's seeded noise against torch itself: test/data/torch_randn.json holds what
// torch.randn drew from torch.Generator("cpu").manual_seed(seed) (native/tools/
// torch_randn_reference.py), and the denoising loop must draw from that stream in diffusers'
// order, so that a seed gives the same image here as in diffusers.

interface Draw {
  shape: number[];
  count: number;
  sha256: string;
  head: number[];
  tail: number[];
  sum: number;
  sumSquares: number;
  values?: number[];
}

interface Reference {
  torch_version: string;
  cases: { name: string; seed: string; draws: Draw[] }[];
}

const reference = JSON.parse(
  readFileSync(new URL("./data/torch_randn.json", import.meta.url), "utf8"),
) as Reference;

function sha256(values: Float32Array): string {
  return createHash("sha256")
    .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    .digest("hex");
}

function sums(values: Float32Array): { sum: number; sumSquares: number } {
  let sum = 0;
  let sumSquares = 0;
  for (const v of values) {
    sum += v;
    sumSquares += v * v;
  }
  return { sum, sumSquares };
}

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

describe("torchRandn", () => {
  it.each(reference.cases)("draws bit for bit what torch.randn draws: $name", ({ seed, draws }) => {
    const got = torchRandnSequence(
      BigInt(seed),
      draws.map((d) => d.count),
    );
    expect(got.length).toBe(draws.length);
    draws.forEach((want, i) => {
      const values = got[i] ?? new Float32Array();
      expect(values.length).toBe(want.count);
      // Readable first: where a mismatch is, then that every bit matches.
      expect(Array.from(values.subarray(0, want.head.length))).toEqual(want.head);
      expect(Array.from(values.subarray(values.length - want.tail.length))).toEqual(want.tail);
      if (want.values) expect(Array.from(values)).toEqual(want.values);
      const { sum, sumSquares } = sums(values);
      expect(Math.abs(sum - want.sum)).toBeLessThan(1e-9 * Math.max(1, want.sumSquares));
      expect(Math.abs(sumSquares - want.sumSquares)).toBeLessThan(1e-9 * Math.max(1, want.sumSquares));
      expect(sha256(values)).toBe(want.sha256);
    });
  });

  it("concatenates successive draws from one generator", () => {
    const [a = new Float32Array(), b = new Float32Array()] = torchRandnSequence(5, [100, 100]);
    const both = torchRandn(5, 100, 2);
    expect(both.subarray(0, 100)).toEqual(a);
    expect(both.subarray(100)).toEqual(b);
    expect(relL2(b, a)).toBeGreaterThan(0.5);
  });

  it("gives seeds that differ only above bit 31 the same values, as torch does", () => {
    expect(torchRandn(2n ** 32n + 5n, 48)).toEqual(torchRandn(5, 48));
    expect(torchRandn(2n ** 64n - 1n, 48)).toEqual(torchRandn(2 ** 32 - 1, 48));
    expect(relL2(torchRandn(6, 48), torchRandn(5, 48))).toBeGreaterThan(0.5);
  });

  it("reproduces the latents the golden SanaPipeline case was given (seed 4000)", () => {
    const latents = float32Tensor(
      readSafetensors(join(casesDir, "pipeline_sana_cfg.safetensors")),
      "latents",
    );
    expect(torchRandn(4000, latents.data.length)).toEqual(latents.data);
  });

  it("refuses seeds and counts torch would not take, naming them", () => {
    expect(() => torchRandn(-1, 4)).toThrow(/seed must be an integer/);
    expect(() => torchRandn(1.5, 4)).toThrow(/seed must be an integer/);
    expect(() => torchRandn(2n ** 64n, 4)).toThrow(/seed must be a BigInt in \[0, 2\^64\)/);
    expect(() => torchRandn(1, 2.5)).toThrow(/counts\[0\] must be an integer/);
    expect(() => torchRandn(1, 4, -1)).toThrow(/draws must be a whole number/);
  });
});

describe("denoise draws its noise from the seed as diffusers does", () => {
  const cfg = readSafetensors(join(casesDir, "pipeline_sana_cfg.safetensors"));
  const embeds = float32Tensor(cfg, "encoder_hidden_states");
  const mask = Float32Array.from(int64Tensor(cfg, "encoder_attention_mask").data, Number);
  const [, tokens = 0, channels = 0] = embeds.shape;
  const half = 2 * tokens * channels;
  const negative = { embeds: embeds.data.slice(0, half), mask: mask.slice(0, 2 * tokens), batch: 2, tokens };
  const prompt = { embeds: embeds.data.slice(half), mask: mask.slice(2 * tokens), batch: 2, tokens };
  const base = { batch: 2, height: 4, width: 6, guidanceScale: 4.5, prompt };
  const n = 2 * 8 * 4 * 6;

  let sana: Denoiser;
  let sprint: Denoiser;
  beforeAll(async () => {
    sana = await loadDenoiser(join(modelsDir, "tiny-sana"));
    sprint = await loadDenoiser(join(modelsDir, "tiny-sana-sprint"));
  });

  it("starts from torchRandn(seed) when no latents are given", async () => {
    const seeded = await sana.run({ ...base, negative, steps: 2, seed: 9 });
    const given = await sana.run({ ...base, negative, steps: 2, latents: torchRandn(9, n) });
    expect(seeded.latents).toEqual(given.latents);
  });

  it("follows the reference pipeline from the seed its latents were drawn with", async () => {
    const steps: Float32Array[] = [];
    await sana.run({ ...base, negative, steps: 4, seed: 4000 }, (s) => steps.push(s.latents));
    const ref = float32Tensor(cfg, "step_latents").data;
    expect(steps.length).toBe(4);
    steps.forEach((latents, i) => {
      expect(relL2(latents, ref.subarray(i * n, (i + 1) * n))).toBeLessThan(1e-4);
    });
  });

  it("draws Sprint's latents and then each step's noise from one generator", async () => {
    const seeded = await sprint.run({ ...base, steps: 2, seed: 2025 });
    const draws = torchRandn(2025, n, 3);
    const given = await sprint.run({
      ...base,
      steps: 2,
      latents: draws.slice(0, n),
      stepNoise: draws.slice(n),
    });
    expect(seeded.latents).toEqual(given.latents);
  });

  it("takes Sprint's step noise from the seed's first draws when latents are given (golden seed 4099)", async () => {
    const golden = readSafetensors(join(casesDir, "pipeline_sprint_2steps.safetensors"));
    const latents = float32Tensor(golden, "latents").data;
    const seeded = await sprint.run({ ...base, steps: 2, latents, seed: 4099 });
    const recorded = await sprint.run({
      ...base,
      steps: 2,
      latents,
      stepNoise: float32Tensor(golden, "scm_noise").data,
    });
    expect(seeded.latents).toEqual(recorded.latents);
  });
});
