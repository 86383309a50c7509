import type { GenerateResponse, ImageChunk, ImageHeader } from "./gen/sana/v1/generate_pb.js";
import { chunkCountFor, MAX_CHUNK_BYTES } from "./image-chunks.js";
import { sha256, toHex } from "./web-crypto.js";

/** Why an image could not be assembled from its events. */
export type ImageAssemblyErrorCode =
  /** A chunk arrived before any image_header. */
  | "missing_header"
  /** A second image_header arrived. */
  | "duplicate_header"
  /** The header is inconsistent (size, chunk count, digest length) or too large. */
  | "invalid_header"
  /** A chunk's index is not the next one expected (a chunk is missing, repeated or reordered). */
  | "unexpected_index"
  /** A chunk's offset is not the number of bytes received so far. */
  | "unexpected_offset"
  /** A chunk is empty, over MAX_CHUNK_BYTES, or not full although it is not the last. */
  | "invalid_chunk_size"
  /** A chunk's `last` flag disagrees with the header's chunk count. */
  | "last_flag_mismatch"
  /** The chunks' bytes do not add up to the header's total_bytes. */
  | "size_mismatch"
  /** finish() was called before the last chunk arrived. */
  | "incomplete"
  /** The assembled bytes do not hash to the header's sha256. */
  | "sha256_mismatch";

/** The typed failure of ImageAssembler; `code` says what was wrong. */
export class ImageAssemblyError extends Error {
  override readonly name = "ImageAssemblyError";
  constructor(
    readonly code: ImageAssemblyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A verified final image. */
export interface AssembledImage {
  readonly header: ImageHeader;
  /** Exactly header.totalBytes bytes whose SHA-256 is header.sha256. */
  readonly data: Uint8Array;
}

export interface ImageAssemblerOptions {
  /**
   * Largest total_bytes a header may announce; protects the receiver from
   * allocating whatever a faulty peer claims. Default DEFAULT_MAX_IMAGE_BYTES.
   */
  readonly maxImageBytes?: number;
}

/** 64 MiB: above a 4096x4096 RGB PNG stored without compression (~48 MiB). */
export const DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024;

const SHA256_BYTES = 32;

/**
 * Rebuilds the final image from the image_header and image_chunk events of one
 * Generate stream, fed in stream order, and checks every invariant of the
 * contract: header first, consecutive indices and offsets, full chunks but the
 * last, the total size and the SHA-256. Violations throw ImageAssemblyError.
 */
export class ImageAssembler {
  readonly #maxImageBytes: number;
  #header: ImageHeader | undefined;
  #buffer: Uint8Array | undefined;
  #nextIndex = 0;
  #received = 0;
  #done = false;

  constructor(options: ImageAssemblerOptions = {}) {
    this.#maxImageBytes = options.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  }

  /** The header, once it has arrived. */
  get header(): ImageHeader | undefined {
    return this.#header;
  }

  /** True once the chunk flagged `last` has been accepted. */
  get complete(): boolean {
    return this.#done;
  }

  /**
   * Feeds one stream event. Image events are consumed and true is returned;
   * every other event is ignored and false is returned.
   */
  push(event: GenerateResponse): boolean {
    switch (event.event.case) {
      case "imageHeader":
        this.addHeader(event.event.value);
        return true;
      case "imageChunk":
        this.addChunk(event.event.value);
        return true;
      default:
        return false;
    }
  }

  addHeader(header: ImageHeader): void {
    if (this.#header !== undefined) {
      throw new ImageAssemblyError("duplicate_header", "a second image_header arrived for the same image");
    }
    const { totalBytes, chunkCount } = header;
    if (totalBytes === 0 || totalBytes > this.#maxImageBytes) {
      throw new ImageAssemblyError(
        "invalid_header",
        `image_header.total_bytes is ${totalBytes}; expected 1..${this.#maxImageBytes}`,
      );
    }
    if (chunkCount !== chunkCountFor(totalBytes)) {
      throw new ImageAssemblyError(
        "invalid_header",
        `image_header.chunk_count is ${chunkCount}; ${totalBytes} bytes in chunks of ${MAX_CHUNK_BYTES} need ${chunkCountFor(totalBytes)}`,
      );
    }
    if (header.sha256.length !== SHA256_BYTES) {
      throw new ImageAssemblyError(
        "invalid_header",
        `image_header.sha256 has ${header.sha256.length} bytes; expected ${SHA256_BYTES}`,
      );
    }
    this.#header = header;
    this.#buffer = new Uint8Array(totalBytes);
  }

  addChunk(chunk: ImageChunk): void {
    const header = this.#header;
    const buffer = this.#buffer;
    if (header === undefined || buffer === undefined) {
      throw new ImageAssemblyError(
        "missing_header",
        `image_chunk ${chunk.index} arrived before the image_header`,
      );
    }
    if (this.#done || chunk.index !== this.#nextIndex) {
      const expected = this.#done ? "none (the last chunk was already received)" : String(this.#nextIndex);
      throw new ImageAssemblyError(
        "unexpected_index",
        `image_chunk index ${chunk.index}; expected ${expected}`,
      );
    }
    if (chunk.offset !== this.#received) {
      throw new ImageAssemblyError(
        "unexpected_offset",
        `image_chunk ${chunk.index} has offset ${chunk.offset}; expected ${this.#received}`,
      );
    }
    const isLast = chunk.index === header.chunkCount - 1;
    const size = chunk.data.length;
    if (size === 0 || size > MAX_CHUNK_BYTES || (!isLast && size !== MAX_CHUNK_BYTES)) {
      const expected = isLast ? `1..${MAX_CHUNK_BYTES}` : String(MAX_CHUNK_BYTES);
      throw new ImageAssemblyError(
        "invalid_chunk_size",
        `image_chunk ${chunk.index} holds ${size} bytes; expected ${expected}`,
      );
    }
    if (chunk.last !== isLast) {
      throw new ImageAssemblyError(
        "last_flag_mismatch",
        `image_chunk ${chunk.index} has last=${chunk.last} but the header announces ${header.chunkCount} chunks`,
      );
    }
    const end = this.#received + size;
    if (end > header.totalBytes || (isLast && end !== header.totalBytes)) {
      throw new ImageAssemblyError(
        "size_mismatch",
        `chunks add up to ${isLast ? end : `at least ${end}`} bytes; image_header.total_bytes is ${header.totalBytes}`,
      );
    }
    buffer.set(chunk.data, this.#received);
    this.#received = end;
    this.#nextIndex++;
    this.#done = isLast;
  }

  /** Verifies the SHA-256 of the complete image and returns it. */
  async finish(): Promise<AssembledImage> {
    const header = this.#header;
    const buffer = this.#buffer;
    if (header === undefined || buffer === undefined) {
      throw new ImageAssemblyError("incomplete", "the stream carried no image_header");
    }
    if (!this.#done) {
      throw new ImageAssemblyError(
        "incomplete",
        `received ${this.#nextIndex} of ${header.chunkCount} chunks (${this.#received} of ${header.totalBytes} bytes)`,
      );
    }
    const digest = await sha256(buffer);
    if (!equalBytes(digest, header.sha256)) {
      throw new ImageAssemblyError(
        "sha256_mismatch",
        `assembled image hashes to ${toHex(digest)}; image_header.sha256 is ${toHex(header.sha256)}`,
      );
    }
    return { header, data: buffer };
  }
}

/**
 * Assembles the final image from a sequence of stream events, ignoring the
 * events that are not part of it.
 */
export async function assembleImage(
  events: Iterable<GenerateResponse> | AsyncIterable<GenerateResponse>,
  options: ImageAssemblerOptions = {},
): Promise<AssembledImage> {
  const assembler = new ImageAssembler(options);
  for await (const event of events) assembler.push(event);
  return assembler.finish();
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
