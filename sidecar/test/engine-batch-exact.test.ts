import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { type BatchItem, type BatchRequest, type GeneratedImage, TextToImage } from "../src/index.js";

// OpenBLAS rounds a GEMM over more rows differently in the last bit, so under it a batched
// item only nearly matches its image alone (engine-batch.test.ts). The portable SGEMM does
// not: with it the bytes must be identical, which proves each item's noise, prompt rows and
// latents are laid out exactly as its batch-of-one run has them. The engine reads SANA_GEMM
// at its first GEMM, and every test file runs in a process of its own.
process.env.SANA_GEMM = "portable";

const models = fileURLToPath(new URL("../../test/fixtures/golden/models/", import.meta.url));

const items: BatchItem[] = [
  { prompt: "a red fox in the snow", negativePrompt: "blurry", seed: 7n },
  { prompt: "a lighthouse at dusk", seed: 1234n, useComplexHumanInstruction: false },
  { prompt: "still life with lemons", negativePrompt: "low quality, watermark", seed: 2n ** 40n + 5n },
];

async function expectIdenticalToAlone(engine: TextToImage, request: BatchRequest): Promise<void> {
  const batch = await engine.generateBatch(request);
  const alone: GeneratedImage[] = [];
  for (const item of request.items)
    alone.push(...(await engine.generateBatch({ ...request, items: [item] })));
  expect(batch.map((image, i) => Buffer.from(image.rgb).equals(Buffer.from(alone[i]?.rgb ?? [])))).toEqual(
    request.items.map(() => true),
  );
}

describe("TextToImage.generateBatch with the portable SGEMM", () => {
  let sana: TextToImage;
  let sprint: TextToImage;
  beforeAll(async () => {
    [sana, sprint] = await Promise.all([
      TextToImage.load(`${models}tiny-sana`),
      TextToImage.load(`${models}tiny-sana-sprint`),
    ]);
  });

  it("gives SANA items the very bytes they get alone, with CFG and with PAG", async () => {
    const request: BatchRequest = { width: 128, height: 96, steps: 3, guidanceScale: 4.5, items };
    await expectIdenticalToAlone(sana, request);
    await expectIdenticalToAlone(sana, { ...request, pagScale: 2 });
  });

  it("gives the very same bytes when the items share one prompt and negative row", async () => {
    const shared = [5n, 6n, 7n].map((seed) => ({ prompt: "a red fox", seed }));
    await expectIdenticalToAlone(sana, {
      width: 128,
      height: 96,
      steps: 3,
      guidanceScale: 4.5,
      items: shared,
    });
  });

  it("gives Sana-Sprint items the very bytes they get alone", async () => {
    await expectIdenticalToAlone(sprint, { width: 64, height: 96, steps: 2, guidanceScale: 4.5, items });
  });
});
