import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  assembleImage,
  type EncodedImage,
  finalImageEvents,
  GenerateResponseSchema,
  ImageAssembler,
  ImageAssemblyError,
  type ImageAssemblyErrorCode,
  type ImageChunk,
  ImageFormat,
  type ImageHeader,
  MAX_CHUNK_BYTES,
  sha256,
  splitIntoChunks,
} from "../src/index.js";

const MiB = 1024 * 1024;

/** Byte equality via Buffer.equals: vitest's deep toEqual walks megabytes element by element. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Deterministic bytes that differ from chunk to chunk, so misplaced data shows. */
function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

const data = pseudoRandomBytes(3.5 * MiB);
const image: EncodedImage = { data, format: ImageFormat.PNG, width: 2048, height: 1024, seed: 99n };

async function headerAndChunks(): Promise<{ header: ImageHeader; chunks: ImageChunk[] }> {
  const events = await finalImageEvents(image);
  const [first, ...rest] = events;
  if (first?.event.case !== "imageHeader") throw new Error("first event is not the header");
  const chunks = rest.map((e) => {
    if (e.event.case !== "imageChunk") throw new Error("expected only chunks after the header");
    return e.event.value;
  });
  return { header: first.event.value, chunks };
}

async function expectAssemblyError(
  feed: (assembler: ImageAssembler) => unknown,
  code: ImageAssemblyErrorCode,
): Promise<void> {
  const assembler = new ImageAssembler();
  const failure = (async () => feed(assembler))();
  await expect(failure).rejects.toBeInstanceOf(ImageAssemblyError);
  await expect(failure).rejects.toMatchObject({ code });
}

describe("splitIntoChunks", () => {
  it("splits 3.5 MiB into four chunks of at most 1 MiB, all views of the input", () => {
    const chunks = splitIntoChunks(data);
    expect(chunks.map((c) => c.data.length)).toEqual([MiB, MiB, MiB, MiB / 2]);
    expect(chunks.every((c) => c.data.length <= MAX_CHUNK_BYTES)).toBe(true);
    expect(chunks.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(chunks.map((c) => c.offset)).toEqual([0, MiB, 2 * MiB, 3 * MiB]);
    expect(chunks.map((c) => c.last)).toEqual([false, false, false, true]);
    for (const chunk of chunks) {
      expect(chunk.data.buffer).toBe(data.buffer);
      expect(chunk.data.byteOffset).toBe(data.byteOffset + chunk.offset);
    }
  });

  it("gives an image of exactly 1 MiB one full chunk and a 1-byte image one tiny chunk", () => {
    expect(splitIntoChunks(new Uint8Array(MiB)).map((c) => [c.data.length, c.last])).toEqual([[MiB, true]]);
    expect(splitIntoChunks(new Uint8Array(1)).map((c) => [c.data.length, c.last])).toEqual([[1, true]]);
  });

  it("refuses an empty image", () => {
    expect(() => splitIntoChunks(new Uint8Array(0))).toThrow(RangeError);
  });
});

describe("finalImageEvents", () => {
  it("announces size, chunk count, format and the SHA-256 node:crypto computes", async () => {
    const { header, chunks } = await headerAndChunks();
    expect(header).toMatchObject({
      mime: "image/png",
      format: ImageFormat.PNG,
      width: 2048,
      height: 1024,
      totalBytes: data.length,
      chunkCount: 4,
      seed: 99n,
    });
    expect(Buffer.from(header.sha256).toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect(chunks).toHaveLength(4);
  });

  it("keeps every encoded chunk event within 1 MiB of data plus a few bytes of framing", async () => {
    for (const event of await finalImageEvents(image)) {
      expect(toBinary(GenerateResponseSchema, event).length).toBeLessThanOrEqual(MAX_CHUNK_BYTES + 32);
    }
  });
});

describe("ImageAssembler", () => {
  it("rebuilds identical bytes with a matching SHA-256 after the events cross the wire", async () => {
    const wire = (await finalImageEvents(image)).map((e) => toBinary(GenerateResponseSchema, e));
    const assembled = await assembleImage(wire.map((bytes) => fromBinary(GenerateResponseSchema, bytes)));
    expect(sameBytes(assembled.data, data)).toBe(true);
    expect(assembled.data.buffer).not.toBe(data.buffer);
    expect(assembled.header.sha256).toEqual(await sha256(assembled.data));
  });

  it("ignores events that are not part of the image", async () => {
    const events = await finalImageEvents(image);
    const progress = create(GenerateResponseSchema, {
      event: { case: "progress", value: { step: 1, totalSteps: 2 } },
    });
    const assembler = new ImageAssembler();
    expect(assembler.push(progress)).toBe(false);
    for (const event of events) expect(assembler.push(event)).toBe(true);
    expect(assembler.complete).toBe(true);
    expect(sameBytes((await assembler.finish()).data, data)).toBe(true);
  });

  it("rejects a missing chunk", async () => {
    const { header, chunks } = await headerAndChunks();
    await expectAssemblyError((a) => {
      a.addHeader(header);
      for (const chunk of chunks.filter((c) => c.index !== 1)) a.addChunk(chunk);
    }, "unexpected_index");
  });

  it("rejects a reordered chunk", async () => {
    const { header, chunks } = await headerAndChunks();
    const [c0, c1, c2, c3] = chunks as [ImageChunk, ImageChunk, ImageChunk, ImageChunk];
    await expectAssemblyError((a) => {
      a.addHeader(header);
      for (const chunk of [c0, c2, c1, c3]) a.addChunk(chunk);
    }, "unexpected_index");
  });

  it("rejects a corrupted byte through the SHA-256 check", async () => {
    const { header, chunks } = await headerAndChunks();
    const corrupted = chunks.map((c) => ({ ...c, data: c.data.slice() }));
    const target = corrupted[2]?.data;
    if (target === undefined) throw new Error("missing chunk 2");
    target[12345] = (target[12345] ?? 0) ^ 0x01;
    await expectAssemblyError(async () => {
      const a = new ImageAssembler();
      a.addHeader(header);
      for (const chunk of corrupted) a.addChunk(chunk);
      return a.finish();
    }, "sha256_mismatch");
  });

  it("rejects a header whose total disagrees with the bytes that arrive", async () => {
    const { header, chunks } = await headerAndChunks();
    for (const totalBytes of [data.length + 1, data.length - 1]) {
      await expectAssemblyError((a) => {
        a.addHeader({ ...header, totalBytes });
        for (const chunk of chunks) a.addChunk(chunk);
      }, "size_mismatch");
    }
  });

  it("rejects a chunk whose offset skips bytes", async () => {
    const { header, chunks } = await headerAndChunks();
    await expectAssemblyError((a) => {
      a.addHeader(header);
      for (const chunk of chunks)
        a.addChunk(chunk.index === 2 ? { ...chunk, offset: chunk.offset + 1 } : chunk);
    }, "unexpected_offset");
  });

  it("rejects a short chunk that is not the last", async () => {
    const { header, chunks } = await headerAndChunks();
    await expectAssemblyError((a) => {
      a.addHeader(header);
      const [first] = chunks;
      if (first) a.addChunk({ ...first, data: first.data.subarray(0, 10) });
    }, "invalid_chunk_size");
  });

  it("rejects a last flag that contradicts the chunk count", async () => {
    const { header, chunks } = await headerAndChunks();
    await expectAssemblyError((a) => {
      a.addHeader(header);
      const [first] = chunks;
      if (first) a.addChunk({ ...first, last: true });
    }, "last_flag_mismatch");
  });

  it("rejects chunks before the header, a second header, and headers it cannot trust", async () => {
    const { header, chunks } = await headerAndChunks();
    await expectAssemblyError((a) => chunks[0] && a.addChunk(chunks[0]), "missing_header");
    await expectAssemblyError((a) => {
      a.addHeader(header);
      a.addHeader(header);
    }, "duplicate_header");
    await expectAssemblyError((a) => a.addHeader({ ...header, chunkCount: 3 }), "invalid_header");
    await expectAssemblyError(
      (a) => a.addHeader({ ...header, sha256: header.sha256.subarray(0, 16) }),
      "invalid_header",
    );
    await expectAssemblyError(
      (a) => a.addHeader({ ...header, totalBytes: 0, chunkCount: 1 }),
      "invalid_header",
    );
    const small = new ImageAssembler({ maxImageBytes: MiB });
    expect(() => small.addHeader(header)).toThrow(/expected 1\.\.1048576/);
  });

  it("refuses to finish before the last chunk, naming how much arrived", async () => {
    const { header, chunks } = await headerAndChunks();
    await expectAssemblyError(async () => {
      const a = new ImageAssembler();
      a.addHeader(header);
      for (const chunk of chunks.slice(0, 3)) a.addChunk(chunk);
      return a.finish();
    }, "incomplete");
    await expect(new ImageAssembler().finish()).rejects.toThrow(/no image_header/);
  });
});
