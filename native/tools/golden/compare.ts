import type { SafetensorsEntry } from "../../lib/types.js";
import type { Tolerance } from "./tolerance.js";

// Relative L2 error ||out - ref|| / ||ref|| over the whole tensor, in float64, as the
// manifest's tolerance_metric defines it; exact outputs must also match element for element.

/** What a handler computed for one output. */
export interface ProducedTensor {
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export interface Comparison {
  pass: boolean;
  /** Relative L2 error (absolute when the reference is all zeros); NaN when not comparable. */
  error: number;
  note?: string;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeText(shape: number[]): string {
  return `[${shape.join(", ")}]`;
}

function valueAt(data: ProducedTensor["data"] | SafetensorsEntry["data"], i: number): number {
  const v = data[i];
  return typeof v === "bigint" ? Number(v) : (v as number);
}

function exactlyEqual(a: ProducedTensor["data"], b: SafetensorsEntry["data"], i: number): boolean {
  const x = a[i];
  const y = b[i];
  if (typeof x === "bigint" && typeof y === "bigint") return x === y;
  return valueAt(a, i) === valueAt(b, i);
}

export function compareTensor(
  actual: ProducedTensor,
  expected: SafetensorsEntry,
  tolerance: Tolerance,
): Comparison {
  if (!sameShape(actual.shape, expected.shape)) {
    return {
      pass: false,
      error: Number.NaN,
      note: `shape ${shapeText(actual.shape)}, expected ${shapeText(expected.shape)}`,
    };
  }
  let diff = 0;
  let ref = 0;
  let mismatches = 0;
  for (let i = 0; i < actual.data.length; i += 1) {
    const a = valueAt(actual.data, i);
    const b = valueAt(expected.data, i);
    diff += (a - b) * (a - b);
    ref += b * b;
    if (!exactlyEqual(actual.data, expected.data, i)) mismatches += 1;
  }
  const error = ref > 0 ? Math.sqrt(diff) / Math.sqrt(ref) : Math.sqrt(diff);
  if (tolerance.kind === "exact") {
    const pass = mismatches === 0;
    return pass
      ? { pass, error }
      : { pass, error, note: `${mismatches} of ${actual.data.length} values differ` };
  }
  // NaN (a non-finite output) fails: NaN <= max is false.
  return { pass: error <= tolerance.max, error };
}
