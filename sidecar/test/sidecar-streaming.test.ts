import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { assembleImage, Health, HealthCheckResponse_ServingStatus, Stage } from "@sana-edge/proto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sidecar } from "../src/server/sidecar.js";
import {
  type CallResult,
  connectClient,
  connectGenerate,
  eventOutline,
  FIXTURE_MODELS,
  grpcClient,
  grpcGenerate,
  startTestSidecar,
} from "./support/sidecar-clients.js";

// A real sidecar on loopback running the native engine on the fixture models, called the
// way the edge calls it (Connect, gRPC-Web) and the way other gRPC clients do (grpc-js).

let sidecar: Sidecar;

beforeAll(async () => {
  sidecar = await startTestSidecar({
    models: [
      { dir: `${FIXTURE_MODELS}tiny-sana`, revision: "fixture-r1" },
      { dir: `${FIXTURE_MODELS}tiny-sana-sprint`, id: "sprint" },
    ],
  });
});

afterAll(async () => {
  await sidecar.close();
});

const request = {
  prompt: "a lighthouse at dusk",
  width: 256,
  height: 192,
  steps: 4,
  seed: 7n,
  previewInterval: 2,
  useResolutionBinning: false,
};

async function expectFullGeneration(result: CallResult, width: number, height: number): Promise<Uint8Array> {
  expect(result.code).toBe(0);
  expect(eventOutline(result.events)).toMatch(
    /^accepted( progress( preview)?)+ imageHeader imageChunk status$/,
  );
  const progress = result.events.flatMap((e) => (e.event.case === "progress" ? [e.event.value] : []));
  const denoising = progress.filter((p) => p.stage === Stage.DENOISING).map((p) => p.step);
  expect(denoising).toEqual([1, 2, 3, 4]);
  expect(progress.map((p) => p.stage)).toContain(Stage.DECODING);
  const previews = result.events.flatMap((e) => (e.event.case === "preview" ? [e.event.value] : []));
  expect(previews.map((p) => p.step)).toEqual([2, 4]);
  for (const preview of previews) {
    expect(preview.mime).toBe("image/jpeg");
    const meta = await sharp(preview.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", preview.width, preview.height]);
    expect(preview.width).toBeLessThan(width);
  }
  const status = result.events.at(-1);
  expect(status?.event.case === "status" && status.event.value.code).toBe(0);
  // The assembler checks indices, offsets, sizes and the sha256 against the header.
  const image = await assembleImage(result.events);
  const meta = await sharp(image.data).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(["png", width, height]);
  return image.data;
}

describe("Generate streams a whole generation", () => {
  it("over plain gRPC (grpc-js): accepted, progress, previews, sha256-checked chunks, OK status", async () => {
    const client = grpcClient(sidecar);
    const result = await grpcGenerate(client, request);
    client.close();
    await expectFullGeneration(result, 256, 192);
    const accepted = result.events[0]?.event;
    expect(accepted?.case).toBe("accepted");
    if (accepted?.case !== "accepted") return;
    expect(accepted.value).toMatchObject({
      model: "tiny-sana",
      modelRevision: "fixture-r1",
      seed: 7n,
      steps: 4,
    });
    expect(accepted.value.jobId).not.toBe("");
  });

  it("over Connect and gRPC-Web with the same bytes for the same seed", async () => {
    const viaConnect = await connectGenerate(connectClient(sidecar, "connect"), request);
    const viaGrpcWeb = await connectGenerate(connectClient(sidecar, "grpc-web"), request);
    const a = await expectFullGeneration(viaConnect, 256, 192);
    const b = await expectFullGeneration(viaGrpcWeb, 256, 192);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it("applies the model's defaults and resolution binning, and reports them in Accepted", async () => {
    const result = await connectGenerate(connectClient(sidecar), {
      model: "sprint",
      prompt: "a red bicycle",
      width: 320,
      height: 192,
      outputFormat: 3,
    });
    expect(result.code).toBe(0);
    const accepted = result.events[0]?.event;
    if (accepted?.case !== "accepted") throw new Error("no accepted event");
    // Sprint: 2 SCM steps at guidance 4.5 by default; a random seed below 2^32.
    expect(accepted.value).toMatchObject({ model: "sprint", steps: 2, sampler: 3, width: 320, height: 192 });
    expect(accepted.value.seed).toBeLessThan(2n ** 32n);
    const image = await assembleImage(result.events);
    const meta = await sharp(image.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["webp", 320, 192]);
  });

  it("lists the models with their capabilities and reports load", async () => {
    const client = connectClient(sidecar);
    const { models } = await client.listModels({});
    expect(models.map((m) => [m.id, m.revision, m.pipelineClass])).toEqual([
      ["tiny-sana", "fixture-r1", "SanaPipeline"],
      ["sprint", "", "SanaSprintPipeline"],
    ]);
    expect(models[0]?.capabilities).toMatchObject({
      nativeResolution: 1024,
      maxWidth: 1024,
      defaultSteps: 20,
    });
    const load = await client.getLoad({});
    expect(load).toMatchObject({
      queueDepth: 0,
      activeJobs: 0,
      capacity: 8,
      maxQueueDepth: 16,
      draining: false,
    });
    expect(load.instanceId).not.toBe("");
    expect(load.device).toMatch(/^cpu/);
  });

  it("answers grpc.health.v1 without credentials", async () => {
    const health = createClient(Health, createConnectTransport({ baseUrl: sidecar.url, httpVersion: "1.1" }));
    for (const service of ["", "sana.v1.ImageService"]) {
      const { status } = await health.check({ service });
      expect(status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
  });
});
