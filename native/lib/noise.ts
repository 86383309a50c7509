import { native } from "./index.js";

// The engine's seeded noise (src/node/noise_binding.cpp): torch.Generator("cpu") reproduced,
// so the same seed draws the same torch.randn values here as in diffusers. The denoising loop
// draws from it itself; these functions let tests and tools look at the stream.

/** A seed as torch.manual_seed takes it; only its low 32 bits reach the generator, as in torch. */
export type TorchSeed = number | bigint;

interface NoiseBinding {
  torchRandn(seed: TorchSeed, counts: number[]): Float32Array[];
}

function isNoiseBinding(value: unknown): value is NoiseBinding {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).torchRandn === "function"
  );
}

function binding(): NoiseBinding {
  const addon: unknown = native;
  if (!isNoiseBinding(addon)) {
    throw new Error(
      "the loaded sana_native addon has no noise binding (rebuild it: npm run build -w native)",
    );
  }
  return addon;
}

/**
 * Successive torch.randn calls on one torch.Generator("cpu").manual_seed(seed), one per entry
 * of `counts` (a tensor's element count; its shape does not matter).
 */
export function torchRandnSequence(seed: TorchSeed, counts: readonly number[]): Float32Array[] {
  return binding().torchRandn(seed, [...counts]);
}

/**
 * `draws` successive torch.randn(count) calls on one generator, end to end: with draws = 1 the
 * initial latents a seed gives; a Sana-Sprint run of n steps uses n + 1 (latents, then the
 * noise of each step).
 */
export function torchRandn(seed: TorchSeed, count: number, draws = 1): Float32Array {
  if (!Number.isInteger(draws) || draws < 0)
    throw new RangeError(`torchRandn: draws must be a whole number, got ${draws}`);
  const parts = torchRandnSequence(
    seed,
    Array.from({ length: draws }, () => count),
  );
  const out = new Float32Array(count * draws);
  parts.forEach((part, i) => {
    out.set(part, i * count);
  });
  return out;
}
