import { assembleImage, MAX_CHUNK_BYTES } from "@sana-edge/proto";
import sharp from "sharp";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Sidecar } from "../src/server/sidecar.js";
import { FIXTURE_MODELS, grpcClient, grpcGenerate, startTestSidecar } from "./support/sidecar-clients.js";

let sidecar: Sidecar;

beforeAll(async () => {
  sidecar = await startTestSidecar({ models: [{ dir: `${FIXTURE_MODELS}tiny-sana-4k`, id: "4k" }] });
});

afterAll(async () => {
  await sidecar.close();
});

it("streams a 4096² PNG in 1 MiB chunks whose sha256 matches the header", async () => {
  const client = grpcClient(sidecar);
  const result = await grpcGenerate(client, {
    model: "4k",
    prompt: "a city",
    width: 4096,
    height: 4096,
    steps: 1,
    seed: 9n,
  });
  client.close();
  expect(result.code).toBe(0);
  const image = await assembleImage(result.events);
  const chunks = result.events.filter((e) => e.event.case === "imageChunk");
  expect(chunks.length).toBe(Math.ceil(image.data.length / MAX_CHUNK_BYTES));
  expect(chunks.length).toBeGreaterThan(4);
  const meta = await sharp(image.data).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(["png", 4096, 4096]);
});
