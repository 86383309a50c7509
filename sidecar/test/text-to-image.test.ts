import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeImage, GenerationCancelledError, type GenerationProgress, TextToImage } from "../src/index.js";

// Prompt → encoded image on the tiny random-weight fixture model, through the real engine.

const modelDir = fileURLToPath(new URL("../../test/fixtures/golden/models/tiny-sana", import.meta.url));
const request = {
  prompt: "a red fox in the snow",
  width: 128,
  height: 96,
  steps: 3,
  guidanceScale: 4.5,
  seed: 7n,
};

let engine: TextToImage;
beforeAll(async () => {
  engine = await TextToImage.load(modelDir);
});

describe("TextToImage", () => {
  it("turns a prompt into an RGB image of the requested size, reporting every stage", async () => {
    const progress: GenerationProgress[] = [];
    const image = await engine.generate(request, { onProgress: (p) => progress.push(p) });
    expect(image.rgb.length).toBe(128 * 96 * 3);
    expect(progress.map((p) => `${p.stage}:${p.step}`)).toEqual([
      "encoding_prompt:0",
      "denoising:1",
      "denoising:2",
      "denoising:3",
      "decoding:3",
    ]);
    const png = await encodeImage(image, { format: "png" });
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 128, 96]);
  });

  it("gives the same pixels for the same seed and different ones for another", async () => {
    const a = await engine.generate(request);
    const b = await engine.generate(request);
    const c = await engine.generate({ ...request, seed: 8n });
    expect(Buffer.from(b.rgb).equals(Buffer.from(a.rgb))).toBe(true);
    expect(Buffer.from(c.rgb).equals(Buffer.from(a.rgb))).toBe(false);
  });

  it("stops the engine when the signal aborts mid-denoising", async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const run = engine.generate(
      { ...request, steps: 40 },
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.stage !== "denoising") return;
          steps.push(p.step);
          if (p.step === 2) controller.abort();
        },
      },
    );
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationCancelledError);
    expect((error as GenerationCancelledError).stepsCompleted).toBeLessThan(40);
    expect(steps.length).toBe((error as GenerationCancelledError).stepsCompleted);
  });

  it("refuses a size that is not a multiple of 32", async () => {
    await expect(engine.generate({ ...request, width: 100 })).rejects.toThrow(
      /width must be a positive multiple of 32/,
    );
  });

  it("downscales previews to their maximum size", async () => {
    const image = await engine.generate({ ...request, steps: 1 });
    const jpeg = await encodeImage(image, { format: "jpeg", quality: 70, maxSize: 64 });
    const meta = await sharp(jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 64, 48]);
  });
});
