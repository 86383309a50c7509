// A minimal safetensors writer: 8-byte little-endian header length, a JSON header, then the
// tensors' bytes back to back. Names are sorted and the header is space-padded to 8 bytes,
// as the reference writer does, so equal tensors always give byte-identical files.

/** The float dtypes this writer stores (the native loader widens both to float32). */
export type WritableDType = "F32" | "BF16";

export interface TensorToWrite {
  name: string;
  dtype: WritableDType;
  shape: readonly number[];
  data: Float32Array;
}

interface HeaderEntry {
  dtype: WritableDType;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES_PER_ELEMENT: Record<WritableDType, number> = { F32: 4, BF16: 2 };

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** float32 bits → bfloat16 bits, rounding to nearest even like torch's .to(torch.bfloat16). */
function bfloat16FromBits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // keep NaN a NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function toBfloat16Bits(value: number): number {
  return bfloat16FromBits(new Uint32Array(Float32Array.of(value).buffer)[0] ?? 0);
}

function checkTensor(tensor: TensorToWrite): void {
  const expected = elementCount(tensor.shape);
  if (!tensor.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new RangeError(`tensor "${tensor.name}": shape [${tensor.shape.join(", ")}] is not a shape`);
  }
  if (tensor.data.length !== expected) {
    throw new RangeError(
      `tensor "${tensor.name}": ${tensor.data.length} values for shape [${tensor.shape.join(", ")}] (${expected})`,
    );
  }
}

function encodeHeader(tensors: readonly TensorToWrite[], metadata: Record<string, string>): Buffer {
  const header: Record<string, HeaderEntry | Record<string, string>> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const end = offset + t.data.length * BYTES_PER_ELEMENT[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, end] };
    offset = end;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  // Padding keeps the data area 8-byte aligned for readers that map the file.
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, " ");
  json.copy(padded);
  return padded;
}

function writeData(view: DataView, at: number, tensor: TensorToWrite): number {
  let p = at;
  if (tensor.dtype === "F32") {
    for (const v of tensor.data) {
      view.setFloat32(p, v, true);
      p += 4;
    }
  } else {
    // One bit view of the whole tensor: converting value by value would allocate per element.
    const bits = new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length);
    for (const b of bits) {
      view.setUint16(p, bfloat16FromBits(b), true);
      p += 2;
    }
  }
  return p;
}

/** The bytes of a .safetensors file holding `tensors` (any order; stored sorted by name). */
export function encodeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Buffer {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  sorted.forEach((t, i) => {
    checkTensor(t);
    if (i > 0 && sorted[i - 1]?.name === t.name) throw new Error(`tensor "${t.name}" given twice`);
  });
  const header = encodeHeader(sorted, metadata);
  const dataBytes = sorted.reduce((n, t) => n + t.data.length * BYTES_PER_ELEMENT[t.dtype], 0);
  const out = Buffer.alloc(8 + header.length + dataBytes);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  header.copy(out, 8);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  let at = 8 + header.length;
  for (const t of sorted) at = writeData(view, at, t);
  return out;
}
