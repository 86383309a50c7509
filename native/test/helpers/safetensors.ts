import { readFileSync, writeFileSync } from "node:fs";
import type { DType } from "../../lib/types.js";

// A small, independent safetensors reader/writer for building test files (corrupted ones
// included). It shares no code with the C++ loader, so the tests compare two readings.

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface RawTensor {
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

export interface RawFile {
  header: Record<string, HeaderEntry>;
  metadata: Record<string, string> | undefined;
  data: Uint8Array;
}

export const dtypeSize: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function readRaw(path: string): RawFile {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const parsed = JSON.parse(file.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, unknown>;
  const { __metadata__, ...entries } = parsed;
  return {
    header: entries as Record<string, HeaderEntry>,
    metadata: __metadata__ as Record<string, string> | undefined,
    data: new Uint8Array(file.subarray(8 + headerLength)),
  };
}

export function rawTensors(path: string): Record<string, RawTensor> {
  const { header, data } = readRaw(path);
  const out: Record<string, RawTensor> = {};
  for (const [name, entry] of Object.entries(header)) {
    const [begin, end] = entry.data_offsets;
    out[name] = { dtype: entry.dtype as DType, shape: entry.shape, bytes: data.slice(begin, end) };
  }
  return out;
}

/** Serialises a header object and data area as-is: the way to write deliberately bad files. */
export function encodeRaw(header: Record<string, unknown>, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

/** A valid file: tensors packed in name order, offsets computed. */
export function encodeSafetensors(
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const tensor = tensors[name] as RawTensor;
    const expected = tensor.shape.reduce((a, b) => a * b, 1) * dtypeSize[tensor.dtype];
    if (expected !== tensor.bytes.length) {
      throw new Error(`test writer: ${name} has ${tensor.bytes.length} bytes, shape needs ${expected}`);
    }
    header[name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.bytes.length],
    };
    chunks.push(tensor.bytes);
    offset += tensor.bytes.length;
  }
  return encodeRaw(header, Buffer.concat(chunks));
}

export function writeSafetensors(
  path: string,
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

export function float32Values(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

export function bigInt64Values(bytes: Uint8Array): BigInt64Array {
  const copy = new Uint8Array(bytes);
  return new BigInt64Array(copy.buffer, 0, copy.length / 8);
}

// Rounding to half and bfloat16 done arithmetically (scale by the unit in the last place,
// round half to even), deliberately unlike the C++ bit manipulation it is checked against.

function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  return e;
}

function roundToPrecision(x: number, mantissaBits: number, minExponent: number, overflowAt: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const sign = Math.sign(x);
  const a = Math.abs(x);
  if (a >= overflowAt) return sign * Number.POSITIVE_INFINITY;
  const ulp = 2 ** (Math.max(exponentOf(a), minExponent) - mantissaBits);
  const q = a / ulp;
  let r = Math.floor(q);
  const rest = q - r;
  if (rest > 0.5 || (rest === 0.5 && r % 2 === 1)) r += 1;
  return sign * r * ulp;
}

/** The float16 value nearest to x (ties to even). */
export function roundToF16(x: number): number {
  return roundToPrecision(x, 10, -14, 65520);
}

/** The bfloat16 value nearest to x (ties to even). */
export function roundToBf16(x: number): number {
  return roundToPrecision(x, 7, -126, (2 - 2 ** -8) * 2 ** 127);
}

function f16Bits(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Number.POSITIVE_INFINITY) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = exponentOf(a);
  return sign | ((e + 15) << 10) | Math.round(a / 2 ** (e - 10) - 1024);
}

function bf16Bits(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0] as number;
  return bits >>> 16;
}

/** Converts an F32 tensor to F16 or BF16 bytes, rounding each element to nearest even. */
export function convertF32(tensor: RawTensor, dtype: "F16" | "BF16"): RawTensor {
  const values = float32Values(tensor.bytes);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i] as number;
    out[i] = dtype === "F16" ? f16Bits(roundToF16(v)) : bf16Bits(roundToBf16(v));
  }
  return { dtype, shape: tensor.shape, bytes: new Uint8Array(out.buffer) };
}
