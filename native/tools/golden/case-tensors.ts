import type { SafetensorsContents, SafetensorsEntry } from "../../lib/types.js";
import type { ManifestCase, TensorSpec } from "./manifest.js";

// The tensors of one case file, checked against what the manifest declares for them.

/** A declared tensor is missing or does not match its declaration: the case fails. */
export class CaseDataError extends Error {
  override name = "CaseDataError";
}

const safetensorsDtype: Record<string, string> = {
  float64: "F64",
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  int64: "I64",
  int32: "I32",
  int16: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};

function shapeText(shape: number[]): string {
  return `[${shape.join(", ")}]`;
}

export interface Float32Data {
  shape: number[];
  data: Float32Array;
}

export interface Int64Data {
  shape: number[];
  data: BigInt64Array;
}

export class CaseTensors {
  constructor(
    private readonly testCase: ManifestCase,
    private readonly contents: SafetensorsContents,
  ) {}

  /** Why `name` (declared as `spec`) cannot be used, or undefined when it matches. */
  mismatch(name: string, spec: TensorSpec): string | undefined {
    const entry = this.contents[name];
    if (entry === undefined) return `"${name}" is not in ${this.testCase.file}`;
    const dtype = safetensorsDtype[spec.dtype];
    if (dtype === undefined)
      return `"${name}" has manifest dtype "${spec.dtype}", which the runner does not know`;
    if (entry.dtype !== dtype)
      return `"${name}" is ${entry.dtype} in the file, the manifest says ${spec.dtype}`;
    if (shapeText(entry.shape) !== shapeText(spec.shape)) {
      return `"${name}" has shape ${shapeText(entry.shape)} in the file, the manifest says ${shapeText(spec.shape)}`;
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.contents[name] !== undefined;
  }

  entry(name: string): SafetensorsEntry {
    const entry = this.contents[name];
    if (entry === undefined)
      throw new CaseDataError(`${this.testCase.name}: "${name}" is not in ${this.testCase.file}`);
    return entry;
  }

  float32(name: string): Float32Data {
    const entry = this.entry(name);
    if (entry.dtype !== "F32" && entry.dtype !== "F16" && entry.dtype !== "BF16") {
      throw new CaseDataError(`${this.testCase.name}: "${name}" is ${entry.dtype}, expected a float tensor`);
    }
    return { shape: entry.shape, data: entry.data };
  }

  int64(name: string): Int64Data {
    const entry = this.entry(name);
    if (entry.dtype !== "I64")
      throw new CaseDataError(`${this.testCase.name}: "${name}" is ${entry.dtype}, expected I64`);
    return { shape: entry.shape, data: entry.data };
  }
}
