import { create } from "@bufbuild/protobuf";
import { imageFormatMime, resolveImageFormat } from "./formats.js";
import type { ImageFormat } from "./gen/sana/v1/common_pb.js";
import {
  type GenerateResponse,
  GenerateResponseSchema,
  type ImageChunk,
  ImageChunkSchema,
  type ImageHeader,
  ImageHeaderSchema,
} from "./gen/sana/v1/generate_pb.js";
import { sha256 } from "./web-crypto.js";

/**
 * Largest `data` of one ImageChunk (and of a Preview): 1 MiB. Keeps every message
 * far below gRPC's default 4 MiB limit and bounds per-message buffering.
 */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** Largest image the header's uint32 sizes can describe. */
const MAX_UINT32 = 0xffff_ffff;

/** Number of chunks an image of `totalBytes` is split into (at least 1). */
export function chunkCountFor(totalBytes: number): number {
  return Math.max(1, Math.ceil(totalBytes / MAX_CHUNK_BYTES));
}

/**
 * Splits an encoded image into ImageChunk messages of MAX_CHUNK_BYTES (the last
 * one shorter). No bytes are copied: every chunk's data is a view of `data`, so
 * `data` must not be modified until the chunks have been sent.
 */
export function splitIntoChunks(data: Uint8Array): ImageChunk[] {
  if (data.length === 0) throw new RangeError("cannot chunk an empty image: an encoder produced no bytes");
  if (data.length > MAX_UINT32) {
    throw new RangeError(`image of ${data.length} bytes exceeds the contract's uint32 size limit`);
  }
  const count = chunkCountFor(data.length);
  const chunks: ImageChunk[] = [];
  for (let index = 0; index < count; index++) {
    const offset = index * MAX_CHUNK_BYTES;
    chunks.push(
      create(ImageChunkSchema, {
        index,
        offset,
        data: data.subarray(offset, Math.min(offset + MAX_CHUNK_BYTES, data.length)),
        last: index === count - 1,
      }),
    );
  }
  return chunks;
}

/** An encoded final image with what the ImageHeader reports about it. */
export interface EncodedImage {
  /** The encoded bytes (PNG, JPEG or WebP). */
  readonly data: Uint8Array;
  /** Their encoding; UNSPECIFIED is taken as PNG, the contract's default. */
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** The seed the image was generated with. */
  readonly seed: bigint;
}

/** The header describing `image`, including the SHA-256 of its bytes. */
export async function imageHeaderFor(image: EncodedImage): Promise<ImageHeader> {
  const format = resolveImageFormat(image.format);
  return create(ImageHeaderSchema, {
    mime: imageFormatMime(format),
    format,
    width: image.width,
    height: image.height,
    totalBytes: image.data.length,
    sha256: await sha256(image.data),
    chunkCount: chunkCountFor(image.data.length),
    seed: image.seed,
  });
}

/**
 * The events that carry the final image, in stream order: one `image_header`,
 * then its chunks. The chunks are views of `image.data` (no copy).
 */
export async function finalImageEvents(image: EncodedImage): Promise<GenerateResponse[]> {
  const chunks = splitIntoChunks(image.data);
  const header = await imageHeaderFor(image);
  return [
    create(GenerateResponseSchema, { event: { case: "imageHeader", value: header } }),
    ...chunks.map((chunk) => create(GenerateResponseSchema, { event: { case: "imageChunk", value: chunk } })),
  ];
}
