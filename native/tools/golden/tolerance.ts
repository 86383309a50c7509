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
