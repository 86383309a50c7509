import type { ToleranceSpec } from "./manifest.js";

// How one output is judged, from the manifest's tolerance field, which comes in three shapes:
// a number (rel. L2 bound for every output), "exact", or an object holding per-output entries
// (number or "exact") and/or {"exact": true}, next to informational keys (metric, measured
// fp64 errors, notes) that are not outputs.

export type Tolerance = { kind: "exact" } | { kind: "rel_l2"; max: number };

export function describeTolerance(tolerance: Tolerance): string {
  return tolerance.kind === "exact" ? "exact" : tolerance.max.toExponential(0);
}

const integerDtypes = new Set(["int64", "int32", "int16", "int8", "uint8", "bool"]);

/** The arithmetic a case's model ran in: the manifest's bounds are for float32 engines. */
export type Precision = "float32" | "bf16";

/** The rel. L2 bound of an output computed through bf16 GEMMs (the issue: "relative L2 <= 1e-2"). */
export const BF16_REL_L2 = 1e-2;

/**
 * The precision a model loaded on `backend` computes in. The cuda backend stores GEMM weights
 * in bf16 unless SANA_CUDA_GEMM=fp32 (src/backend/cuda/cuda_backend.cpp reads the same
 * variable: unset or "bf16" is bf16); every other backend computes in float32.
 */
export function precisionOf(backend: string, env: NodeJS.ProcessEnv = process.env): Precision {
  return backend === "cuda" && env.SANA_CUDA_GEMM !== "fp32" ? "bf16" : "float32";
}

/** "cpu (float32)", "cuda (bf16 GEMMs)", "cuda (fp32 GEMMs, SANA_CUDA_GEMM=fp32)". */
export function describeBackend(backend: string, precision: Precision): string {
  if (precision === "bf16") return `${backend} (bf16 GEMMs)`;
  return backend === "cuda" ? `${backend} (fp32 GEMMs, SANA_CUDA_GEMM=fp32)` : `${backend} (float32)`;
}

/**
 * How an output is judged when its case's model ran at `precision`: the one place where the
 * manifest's float32 tolerances are adapted to a bf16 engine.
 *
 * - float32: the manifest's tolerance, unchanged.
 * - bf16 (the cuda backend's default GEMMs): bf16 keeps 8 mantissa bits, so float outputs
 *   (and uint8 images) are judged at rel. L2 max(manifest bound, 1e-2); an "exact" one counts
 *   as a bound of 0, i.e. 1e-2. Other integer outputs (token ids, masks, timesteps, binned
 *   resolutions) come from model-free computation that bf16 GEMMs do not touch: an exact one
 *   stays exact, and an integer rel. L2 bound stays as the manifest gives it.
 *
 * Cases that load no model (schedulers, tokenizers, resolution binning) run at float32 on
 * every backend; run.ts passes "float32" for them.
 */
export function effectiveTolerance(manifest: Tolerance, dtype: string, precision: Precision): Tolerance {
  if (precision === "float32") return manifest;
  if (integerDtypes.has(dtype) && dtype !== "uint8") return manifest;
  const bound = manifest.kind === "exact" ? 0 : manifest.max;
  return { kind: "rel_l2", max: Math.max(bound, BF16_REL_L2) };
}

/**
 * The tolerance of `output` (of manifest dtype `dtype`), or a reason why the manifest gives
 * none. Integer outputs the tolerance object does not mention are exact: the set's README
 * states that token ids, masks and timesteps are.
 */
export function toleranceFor(
  spec: ToleranceSpec,
  output: string,
  dtype: string,
): Tolerance | { error: string } {
  if (typeof spec === "number") return { kind: "rel_l2", max: spec };
  if (spec === "exact") return { kind: "exact" };
  const metric = spec.metric;
  if (metric !== undefined && metric !== "rel_l2") {
    return { error: `tolerance metric ${JSON.stringify(metric)} is not supported (rel_l2 only)` };
  }
  const entry = spec[output];
  if (typeof entry === "number" && Number.isFinite(entry) && entry >= 0)
    return { kind: "rel_l2", max: entry };
  if (entry === "exact") return { kind: "exact" };
  if (entry !== undefined) return { error: `tolerance for "${output}" is ${JSON.stringify(entry)}` };
  if (spec.exact === true || integerDtypes.has(dtype)) return { kind: "exact" };
  return { error: `the manifest gives no tolerance for "${output}"` };
}
