import { readFileSync } from "node:fs";
import { join } from "node:path";
import { float32Tensor, loadVae, readSafetensors, type VaeModel } from "@sana-edge/native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { casesDir, goldenDir } from "./helpers/fixtures.js";

// The DC-AE autoencoder against diffusers' AutoencoderDC (the golden vae cases, intermediates
// included), the pipeline's image conversions, and tiled decoding against the whole decode.

interface ManifestCase {
  name: string;
  file: string;
  model: string;
  component: string;
  inputs: Record<string, { shape: number[] }>;
  outputs: Record<string, { shape: number[] }>;
  tolerance: Record<string, number | string>;
}

const manifest = JSON.parse(readFileSync(join(casesDir, "manifest.json"), "utf8")) as {
  cases: ManifestCase[];
  models: Record<string, { path: string }>;
};
const vaeCases = manifest.cases.filter((c) => c.component === "vae");
const decodeCases = vaeCases.filter((c) => Object.hasOwn(c.inputs, "latent"));
const encodeCases = vaeCases.filter((c) => Object.hasOwn(c.inputs, "image"));
const tinySana = join(goldenDir, manifest.models["tiny-sana"]?.path ?? "models/tiny-sana");

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

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? Number.NaN) - (b[i] ?? 0)));
  return max;
}

/** Deterministic standard-normal values (Box-Muller over a 32-bit LCG). */
function gaussian(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

function toleranceOf(c: ManifestCase, output: string): number {
  const tol = c.tolerance[output];
  if (typeof tol !== "number") throw new Error(`${c.name}: no numeric tolerance for ${output}`);
  return tol;
}

/** (B, C, H, W) -> (B, H, W, C). */
function nchwToNhwc(data: Float32Array, shape: number[]): Float32Array {
  const [b = 0, c = 0, h = 0, w = 0] = shape;
  const out = new Float32Array(data.length);
  for (let i = 0; i < b; i++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++)
        out[(i * h * w + p) * c + ch] = data[(i * c + ch) * h * w + p] ?? Number.NaN;
  return out;
}

/** numpy's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

let vae: VaeModel;

beforeAll(async () => {
  vae = await loadVae(tinySana);
});

afterAll(() => {
  vae.dispose();
});

describe("loadVae on the tiny SANA fixture", () => {
  it("reports the f32c32 layout: 32x spatial compression and the configured scaling factor", () => {
    expect(vae.info()).toMatchObject({
      backend: "cpu",
      inChannels: 3,
      latentChannels: 8,
      spatialCompression: 32,
      scalingFactor: 0.41407,
      hasEncoder: true,
      hasDecoder: true,
    });
  });
});

describe("VaeModel.decode against diffusers AutoencoderDC.decode", () => {
  it.each(decodeCases.map((c) => [c.name, c] as const))(
    "%s: image and every recorded intermediate within the manifest tolerance",
    async (_name, c) => {
      const contents = readSafetensors(join(goldenDir, c.file));
      const latent = float32Tensor(contents, "latent");
      const result = await vae.decode(latent.data, latent.shape, { capture: true, tiled: false });
      for (const output of Object.keys(c.outputs)) {
        const expected = float32Tensor(contents, output);
        const actual = output === "image" ? result : result.intermediates?.[output];
        expect(actual?.shape, output).toEqual(expected.shape);
        expect(relL2(actual?.data ?? new Float32Array(), expected.data), output).toBeLessThanOrEqual(
          toleranceOf(c, output),
        );
      }
    },
  );
});

describe("VaeModel.encode against diffusers AutoencoderDC.encode", () => {
  it.each(encodeCases.map((c) => [c.name, c] as const))(
    "%s: latent and every recorded intermediate within the manifest tolerance",
    async (_name, c) => {
      const contents = readSafetensors(join(goldenDir, c.file));
      const image = float32Tensor(contents, "image");
      const result = await vae.encode(image.data, image.shape, { capture: true });
      for (const output of Object.keys(c.outputs)) {
        const expected = float32Tensor(contents, output);
        const actual = output === "latent" ? result : result.intermediates?.[output];
        expect(actual?.shape, output).toEqual(expected.shape);
        expect(relL2(actual?.data ?? new Float32Array(), expected.data), output).toBeLessThanOrEqual(
          toleranceOf(c, output),
        );
      }
    },
  );

  it("scaled: true multiplies the latent by scaling_factor (the img2img latent space)", async () => {
    const image = gaussian(3 * 64 * 64, 5).map((v) => Math.tanh(v));
    const raw = await vae.encode(image, [1, 3, 64, 64]);
    const scaled = await vae.encode(image, [1, 3, 64, 64], { scaled: true });
    expect(
      relL2(
        scaled.data,
        raw.data.map((v) => v * 0.41407),
      ),
    ).toBeLessThan(1e-6);
  });
});

describe("the pipeline's conversions of the decoded image", () => {
  // The vae_decode case's latent: its image leaves [-1, 1] at both ends, so the clamp is exercised.
  const recorded = float32Tensor(readSafetensors(join(casesDir, "vae_decode.safetensors")), "latent");
  const { shape, data: latent } = recorded;

  it("scaled: true decodes latents / scaling_factor, as SanaPipeline does", async () => {
    const raw = await vae.decode(latent, shape, { tiled: false });
    const fromDiffusionSpace = await vae.decode(
      latent.map((v) => v * 0.41407),
      shape,
      { scaled: true, tiled: false },
    );
    expect(relL2(fromDiffusionSpace.data, raw.data)).toBeLessThan(1e-5);
  });

  it("decodeToImage is clamp(x / 2 + 0.5, 0, 1) in NHWC (output_type 'np')", async () => {
    const raw = await vae.decode(latent, shape, { tiled: false });
    const image = await vae.decodeToImage(latent, shape, { tiled: false });
    expect(image.shape).toEqual([1, 192, 320, 3]);
    const expected = nchwToNhwc(raw.data, raw.shape).map((x) => Math.min(1, Math.max(0, x / 2 + 0.5)));
    expect(maxAbsDiff(image.data, expected)).toBe(0);
    expect(image.data.some((v) => v === 0) && image.data.some((v) => v === 1)).toBe(true);
  });

  it("decodeToRgb8 is numpy_to_pil's (x * 255).round() in float32, half to even", async () => {
    const unit = await vae.decodeToImage(latent, shape, { tiled: false });
    const rgb = await vae.decodeToRgb8(latent, shape, { tiled: false });
    expect(rgb.shape).toEqual([1, 192, 320, 3]);
    expect(rgb.data).toBeInstanceOf(Uint8Array);
    const expected = Uint8Array.from(unit.data, (v) => roundHalfEven(Math.fround(v * 255)));
    expect(Buffer.from(rgb.data).equals(Buffer.from(expected))).toBe(true);
  });
});

describe("tiled decoding", () => {
  // 2 x 10 x 14 latent with 3-latent-pixel tiles: a 4 x 5 grid of tiles per image, ragged at
  // the right and bottom borders, at 320 x 448 pixels.
  const shape = [2, 8, 10, 14];
  const latent = gaussian(2 * 8 * 10 * 14, 23);

  it("gives the whole decode's image: no seams, within 1e-6 rel. L2 and 1e-4 per pixel", async () => {
    const whole = await vae.decode(latent, shape, { tiled: false });
    const tiled = await vae.decode(latent, shape, { tiled: true, tileLatent: 3 });
    expect(tiled.shape).toEqual(whole.shape);
    expect(relL2(tiled.data, whole.data)).toBeLessThan(1e-6);
    expect(maxAbsDiff(tiled.data, whole.data)).toBeLessThan(1e-4);
  });

  it("tiles of a single latent pixel agree too (halo wider than the tile)", async () => {
    const small = gaussian(8 * 4 * 5, 3);
    const whole = await vae.decode(small, [1, 8, 4, 5], { tiled: false });
    const tiled = await vae.decode(small, [1, 8, 4, 5], { tiled: true, tileLatent: 1 });
    expect(maxAbsDiff(tiled.data, whole.data)).toBeLessThan(1e-4);
  });

  it("decodes untiled by default when the workspace is small", () => {
    expect(vae.decodeWorkspaceBytes(1, 32, 32)).toBeLessThan(4 * 2 ** 30);
  });
});

describe("EfficientViT blocks in row bands (vitScratchBytes)", () => {
  it("decode and encode match the whole-image blocks when every block must run in bands", async () => {
    // 4 KiB forces bands of one or two rows at every EfficientViT stage of the fixture. Band
    // GEMMs round differently from whole-image ones, so the match is to float noise (the
    // golden image's own fp32-vs-fp64 gap is 2e-6), not bit-exact; a wrong halo or summary
    // costs 1e-3 and more.
    const banded = await loadVae(tinySana, { vitScratchBytes: 4096 });
    try {
      const latent = gaussian(8 * 6 * 10, 31);
      const whole = await vae.decode(latent, [1, 8, 6, 10], { tiled: false });
      const inBands = await banded.decode(latent, [1, 8, 6, 10], { tiled: false });
      expect(relL2(inBands.data, whole.data)).toBeLessThan(1e-5);
      const image = gaussian(2 * 3 * 64 * 96, 37).map((v) => Math.tanh(v));
      const encoded = await vae.encode(image, [2, 3, 64, 96]);
      const encodedInBands = await banded.encode(image, [2, 3, 64, 96]);
      expect(relL2(encodedInBands.data, encoded.data)).toBeLessThan(1e-5);
      expect(banded.decodeWorkspaceBytes(1, 64, 64)).toBeLessThan(vae.decodeWorkspaceBytes(1, 64, 64));
    } finally {
      banded.dispose();
    }
  });
});

describe("VaeModel.preview", () => {
  it("is the least-squares map: on its fit latents it beats the best flat colour", async () => {
    const stats = await vae.previewStats();
    expect(stats.fitPsnr).toBeGreaterThan(stats.fitFlatPsnr);
    // Held-out numbers are reported, not asserted: the fixture decoder has random weights,
    // so no linear map generalises there (a trained DC-AE's latents are far more linear).
    expect(Number.isFinite(stats.testPsnr) && Number.isFinite(stats.testFlatPsnr)).toBe(true);
  });

  it("returns one [0, 1] RGB pixel per latent pixel", async () => {
    const latent = gaussian(2 * 8 * 6 * 5, 41).map((v) => v / 0.41407);
    const preview = await vae.preview(latent, [2, 8, 6, 5]);
    expect(preview.shape).toEqual([2, 6, 5, 3]);
    expect(preview.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(new Set(preview.data).size).toBeGreaterThan(30);
  });

  it("scaled: true previews latents / scaling_factor", async () => {
    const latent = gaussian(8 * 3 * 4, 43);
    const raw = await vae.preview(latent, [1, 8, 3, 4]);
    const scaled = await vae.preview(
      latent.map((v) => v * 0.41407),
      [1, 8, 3, 4],
      { scaled: true },
    );
    expect(maxAbsDiff(scaled.data, raw.data)).toBeLessThan(1e-5);
  });
});

describe("argument checks", () => {
  it("rejects a latent whose channel count is not the VAE's", () => {
    expect(() => vae.decode(new Float32Array(4 * 2 * 2), [1, 4, 2, 2])).toThrow(
      /4 channels, this VAE expects 8/,
    );
  });

  it("rejects a shape that does not match the array length", () => {
    expect(() => vae.decode(new Float32Array(10), [1, 8, 2, 2])).toThrow(
      /holds 32 values but the array has 10/,
    );
  });

  it("rejects an image whose size is not a multiple of 32", async () => {
    await expect(vae.encode(new Float32Array(3 * 48 * 64), [1, 3, 48, 64])).rejects.toThrow(/multiple of 32/);
  });

  it("rejects capture together with tiling", () => {
    expect(() => vae.decode(new Float32Array(8 * 4), [1, 8, 2, 2], { capture: true, tiled: true })).toThrow(
      /capture needs an untiled decode/,
    );
  });
});

describe("partial loads and disposal", () => {
  it("a decoder-only VAE decodes and refuses to encode", async () => {
    const decoderOnly = await loadVae(tinySana, { encoder: false });
    expect(decoderOnly.info()).toMatchObject({ hasEncoder: false, hasDecoder: true });
    const image = await decoderOnly.decode(gaussian(8, 1), [1, 8, 1, 1]);
    expect(image.shape).toEqual([1, 3, 32, 32]);
    await expect(decoderOnly.encode(new Float32Array(3 * 32 * 32), [1, 3, 32, 32])).rejects.toThrow(
      /without its encoder/,
    );
    decoderOnly.dispose();
    expect(() => decoderOnly.info()).toThrow(/after dispose/);
  });

  it("loadVae rejects a folder without a VAE", async () => {
    await expect(loadVae(casesDir)).rejects.toThrow(/no config.json/);
  });
});
