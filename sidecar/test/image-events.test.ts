import { randomBytes } from "node:crypto";
import { MAX_CHUNK_BYTES } from "@sana-edge/proto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { finalImageResponses, previewSize } from "../src/jobs/image-events.js";
import type { JobSpec } from "../src/service/validate.js";

/** Incompressible pixels: the PNG comes out larger than one chunk. */
function noise(width: number, height: number): Uint8Array {
  return new Uint8Array(randomBytes(width * height * 3));
}

function spec(overrides: Partial<JobSpec>): JobSpec {
  return { outputFormat: 1, outputQuality: 90, ...overrides } as JobSpec;
}

describe("final image events", () => {
  it("cut the encoded image into ≤ 1 MiB chunks that are views of one buffer (no copies)", async () => {
    const size = { width: 1024, height: 1024 };
    const events = await finalImageResponses(
      { rgb: noise(1024, 1024), ...size, seed: 5n },
      spec({ output: size, generation: size }),
    );
    const [header, ...chunks] = events;
    if (header?.event.case !== "imageHeader") throw new Error("no header first");
    expect(chunks.length).toBe(header.event.value.chunkCount);
    expect(chunks.length).toBeGreaterThan(1);
    const buffers = new Set(
      chunks.map((c) => (c.event.case === "imageChunk" ? c.event.value.data.buffer : undefined)),
    );
    expect(buffers.size).toBe(1);
    for (const chunk of chunks) {
      if (chunk.event.case !== "imageChunk") throw new Error("not a chunk");
      expect(chunk.event.value.data.length).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    }
  });

  it("resize the binned generation back to the requested size", async () => {
    const events = await finalImageResponses(
      { rgb: noise(128, 64), width: 128, height: 64, seed: 5n },
      spec({ output: { width: 100, height: 32 }, generation: { width: 128, height: 64 }, outputFormat: 2 }),
    );
    const data = Buffer.concat(
      events.flatMap((e) => (e.event.case === "imageChunk" ? [e.event.value.data] : [])),
    );
    const meta = await sharp(data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 100, 32]);
  });
});

describe("preview size", () => {
  it("keeps the aspect ratio, the bound, and stays below the final image", () => {
    expect(previewSize({ width: 1024, height: 512 }, 256)).toEqual({ width: 256, height: 128 });
    expect(previewSize({ width: 128, height: 128 }, 256)).toEqual({ width: 64, height: 64 });
    expect(previewSize({ width: 4096, height: 4096 }, 512)).toEqual({ width: 512, height: 512 });
  });
});
