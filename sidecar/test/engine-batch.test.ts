import { fileURLToPath } from "node:url";
import { loadDenoiser, loadVae, SanaTextEncoder } from "@sana-edge/native";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type BatchItem,
  type BatchProgress,
  type BatchRequest,
  type GeneratedImage,
  GenerationCancelledError,
  TextToImage,
} from "../src/index.js";

// Batched generation on the tiny random-weight fixtures: an item's image must not depend on
// the batch it ran in, which is what lets the server merge compatible requests.

const models = fileURLToPath(new URL("../../test/fixtures/golden/models/", import.meta.url));

const items: BatchItem[] = [
  { prompt: "a red fox in the snow", negativePrompt: "blurry", seed: 7n },
  { prompt: "a lighthouse at dusk", seed: 1234n, useComplexHumanInstruction: false },
  { prompt: "still life with lemons", negativePrompt: "low quality, watermark", seed: 2n ** 40n + 5n },
];

function sameBytes(a: GeneratedImage, b: GeneratedImage): boolean {
  return Buffer.from(a.rgb).equals(Buffer.from(b.rgb));
}

/**
 * Batched images against the same items alone. OpenBLAS rounds a GEMM with more rows
 * differently in the last bit (the portable kernel does not: engine-batch-exact.test.ts gets
 * identical bytes), which moves a few bytes by one level: measured at most 3 of 36864.
 */
function expectNearlySame(batch: readonly GeneratedImage[], alone: readonly GeneratedImage[]): void {
  expect(batch.length).toBe(alone.length);
  batch.forEach((image, i) => {
    const other = alone[i]?.rgb ?? new Uint8Array();
    expect(image.rgb.length).toBe(other.length);
    let largest = 0;
    let differing = 0;
    image.rgb.forEach((v, k) => {
      const d = Math.abs(v - (other[k] ?? 0));
      largest = Math.max(largest, d);
      if (d > 0) differing++;
    });
    expect(largest).toBeLessThanOrEqual(1);
    expect(differing).toBeLessThanOrEqual(image.rgb.length / 1000);
  });
}

/** Each item generated alone, through generate(). */
async function singles(engine: TextToImage, request: BatchRequest): Promise<GeneratedImage[]> {
  const out: GeneratedImage[] = [];
  const { width, height, steps, guidanceScale } = request;
  for (const item of request.items)
    out.push(await engine.generate({ width, height, steps, guidanceScale, ...item }));
  return out;
}

/**
 * The engine's own image for one seed (it draws the latents, and Sprint's step noise, itself),
 * without TextToImage in between.
 */
async function engineFromSeed(
  modelDir: string,
  request: Omit<BatchRequest, "items">,
  item: BatchItem,
): Promise<Uint8Array> {
  const [text, denoiser, vae] = await Promise.all([
    SanaTextEncoder.load(modelDir),
    loadDenoiser(modelDir),
    loadVae(modelDir, { encoder: false }),
  ]);
  const cfg = !denoiser.guidanceEmbeds && request.guidanceScale > 1;
  const prompt = await text.encodePrompt(item.prompt, {
    complexHumanInstruction: item.useComplexHumanInstruction ?? true,
    exactPadding: false,
  });
  const negative = cfg
    ? await text.encodePrompt(item.negativePrompt ?? "", {
        complexHumanInstruction: false,
        exactPadding: false,
      })
    : undefined;
  const run = await denoiser.run({
    batch: 1,
    height: request.height / 32,
    width: request.width / 32,
    steps: request.steps,
    guidanceScale: request.guidanceScale,
    seed: item.seed,
    prompt,
    ...(negative === undefined ? {} : { negative }),
  });
  const image = await vae.decodeToRgb8(run.latents, run.shape, { scaled: true });
  return image.data;
}

describe("TextToImage.generateBatch (SANA, flow DPM-Solver)", () => {
  const modelDir = `${models}tiny-sana`;
  const request: BatchRequest = { width: 128, height: 96, steps: 3, guidanceScale: 4.5, items };
  let engine: TextToImage;
  beforeAll(async () => {
    engine = await TextToImage.load(modelDir);
  });

  it("gives every item the image it gets alone", async () => {
    const batch = await engine.generateBatch(request);
    const alone = await singles(engine, request);
    expect(batch.map((image) => image.seed)).toEqual(items.map((item) => item.seed));
    expectNearlySame(batch, alone);
    expect(sameBytes(batch[0] as GeneratedImage, batch[1] as GeneratedImage)).toBe(false);
  });

  it("shares one prompt and negative row when the items agree on them", async () => {
    const same = { ...request, items: [5n, 6n].map((seed) => ({ prompt: "a red fox", seed })) };
    const batch = await engine.generateBatch(same);
    const alone = await singles(engine, same);
    expectNearlySame(batch, alone);
    expect(sameBytes(batch[0] as GeneratedImage, batch[1] as GeneratedImage)).toBe(false);
  });

  it("gives the same images under PAG, batched or not", async () => {
    const pag: BatchRequest = { ...request, pagScale: 2 };
    const batch = await engine.generateBatch(pag);
    const alone: GeneratedImage[] = [];
    for (const item of items) alone.push(...(await engine.generateBatch({ ...pag, items: [item] })));
    expectNearlySame(batch, alone);
    const plain = await engine.generateBatch(request);
    expect(sameBytes(batch[0] as GeneratedImage, plain[0] as GeneratedImage)).toBe(false);
  });

  it("draws a batch of one exactly as the engine draws from the seed", async () => {
    const [image] = await engine.generateBatch({ ...request, items: [items[0] as BatchItem] });
    const own = await engineFromSeed(modelDir, request, items[0] as BatchItem);
    expect(Buffer.from(image?.rgb ?? []).equals(Buffer.from(own))).toBe(true);
  });

  it("hands out each image in item order before resolving", async () => {
    const seen: number[] = [];
    const streamed: GeneratedImage[] = [];
    const stages: string[] = [];
    const images = await engine.generateBatch(request, {
      onImage: (index, image) => {
        seen.push(index);
        streamed.push(image);
      },
      onProgress: (p) => stages.push(`${p.stage}:${p.step}`),
    });
    expect(seen).toEqual([0, 1, 2]);
    expect(streamed).toEqual(images);
    expect(stages).toEqual(["encoding_prompt:0", "denoising:1", "denoising:2", "denoising:3", "decoding:3"]);
  });

  it("stops the whole batch when the signal aborts mid-denoising", async () => {
    const controller = new AbortController();
    const streamed: number[] = [];
    const error = await engine
      .generateBatch(
        { ...request, steps: 40 },
        {
          signal: controller.signal,
          onProgress: (p) => {
            if (p.stage === "denoising" && p.step === 2) controller.abort();
          },
          onImage: (index) => streamed.push(index),
        },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationCancelledError);
    expect((error as GenerationCancelledError).stepsCompleted).toBeGreaterThanOrEqual(2);
    expect((error as GenerationCancelledError).stepsCompleted).toBeLessThan(40);
    expect(streamed).toEqual([]);
  });

  it("does not start when the signal has already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await engine.generateBatch(request, { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationCancelledError);
    expect((error as GenerationCancelledError).stepsCompleted).toBe(0);
  });

  it("previews each item of the denoised batch at latent size", async () => {
    let last: BatchProgress | undefined;
    await engine.generateBatch(request, {
      onProgress: (p) => {
        if (p.denoised !== undefined) last = p;
      },
    });
    if (last?.denoised === undefined) throw new Error("no denoising progress");
    const { denoised, latentShape } = last;
    expect(latentShape).toEqual([3, 8, 3, 4]);
    const previews = await Promise.all([0, 1, 2].map((i) => engine.preview(denoised, latentShape, i)));
    for (const p of previews) expect([p.width, p.height, p.rgb.length]).toEqual([4, 3, 4 * 3 * 3]);
    expect(Buffer.from(previews[0]?.rgb ?? []).equals(Buffer.from(previews[1]?.rgb ?? []))).toBe(false);
    await expect(engine.preview(denoised, latentShape, 3)).rejects.toThrow(/item 3 outside 0..2/);
  });

  it("refuses an empty batch", async () => {
    await expect(engine.generateBatch({ ...request, items: [] })).rejects.toThrow(/no items/);
  });
});

describe("TextToImage.generateBatch (Sana-Sprint, SCM)", () => {
  const modelDir = `${models}tiny-sana-sprint`;
  const request: BatchRequest = { width: 64, height: 96, steps: 2, guidanceScale: 4.5, items };
  let engine: TextToImage;
  beforeAll(async () => {
    engine = await TextToImage.load(modelDir);
  });

  it("gives every item the image it gets alone, step noise included", async () => {
    expect(engine.guidanceEmbeds).toBe(true);
    const batch = await engine.generateBatch(request);
    const alone = await singles(engine, request);
    expectNearlySame(batch, alone);
  });

  it("draws a batch of one exactly as the engine draws from the seed", async () => {
    for (const item of items) {
      const [image] = await engine.generateBatch({ ...request, items: [item] });
      const own = await engineFromSeed(modelDir, request, item);
      expect(Buffer.from(image?.rgb ?? []).equals(Buffer.from(own))).toBe(true);
    }
  });
});
