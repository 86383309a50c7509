import type { SafetensorsContents } from "./types.js";

// Typed access to readSafetensors() results for callers that know what a file must hold
// (golden cases): a wrong dtype or a missing name fails with the tensor's name.

export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface Int64Tensor {
  shape: number[];
  data: BigInt64Array;
}

export function float32Tensor(contents: SafetensorsContents, name: string): Float32Tensor {
  const entry = contents[name];
  if (entry === undefined) throw new Error(`no tensor "${name}" (have: ${Object.keys(contents).join(", ")})`);
  if (entry.dtype !== "F32" && entry.dtype !== "F16" && entry.dtype !== "BF16") {
    throw new Error(`tensor "${name}" is ${entry.dtype}, expected a float tensor`);
  }
  return { shape: entry.shape, data: entry.data };
}

export function int64Tensor(contents: SafetensorsContents, name: string): Int64Tensor {
  const entry = contents[name];
  if (entry === undefined) throw new Error(`no tensor "${name}" (have: ${Object.keys(contents).join(", ")})`);
  if (entry.dtype !== "I64") throw new Error(`tensor "${name}" is ${entry.dtype}, expected I64`);
  return { shape: entry.shape, data: entry.data };
}
