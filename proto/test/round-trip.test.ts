import {
  create,
  equals,
  fromBinary,
  fromJson,
  type JsonValue,
  type MessageInitShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  GenerateRequestSchema,
  GenerateResponseSchema,
  GetLoadResponseSchema,
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  ImageFormat,
  ImageService,
  ListModelsResponseSchema,
  PreviewFormat,
  Sampler,
  Stage,
} from "../src/index.js";

const fullRequest: MessageInitShape<typeof GenerateRequestSchema> = {
  model: "sana-1.6b-1024",
  prompt: "a red fox in the snow, 35mm photo",
  negativePrompt: "blurry",
  width: 1024,
  height: 768,
  steps: 20,
  guidanceScale: 4.5,
  seed: 2n ** 60n + 7n,
  sampler: Sampler.FLOW_DPM_SOLVER,
  outputFormat: ImageFormat.WEBP,
  outputQuality: 85,
  previewInterval: 5,
  previewFormat: PreviewFormat.WEBP,
  previewMaxSize: 256,
  pagScale: 3,
  useComplexHumanInstruction: false,
  useResolutionBinning: true,
  clientRequestId: "req-123",
};

// One of each event kind, in the order a stream carries them.
const events: MessageInitShape<typeof GenerateResponseSchema>[] = [
  {
    event: {
      case: "accepted",
      value: {
        jobId: "job-1",
        queuePosition: 2,
        seed: 42n,
        model: "sana-1.6b-1024",
        modelRevision: "abc123",
        width: 1024,
        height: 768,
        steps: 20,
        guidanceScale: 4.5,
        sampler: Sampler.FLOW_EULER,
      },
    },
  },
  { event: { case: "queued", value: { position: 1, estimatedWaitMs: 1500 } } },
  { event: { case: "progress", value: { step: 5, totalSteps: 20, elapsedMs: 321, stage: Stage.DENOISING } } },
  {
    event: {
      case: "preview",
      value: {
        step: 5,
        data: new Uint8Array([0xff, 0xd8, 0xff, 0xe0]),
        mime: "image/jpeg",
        width: 256,
        height: 192,
      },
    },
  },
  {
    event: {
      case: "imageHeader",
      value: {
        mime: "image/png",
        format: ImageFormat.PNG,
        width: 1024,
        height: 768,
        totalBytes: 3,
        sha256: new Uint8Array(32).fill(7),
        chunkCount: 1,
        seed: 42n,
      },
    },
  },
  {
    event: {
      case: "imageChunk",
      value: { index: 0, offset: 0, data: new Uint8Array([1, 2, 3]), last: true },
    },
  },
  { event: { case: "status", value: { code: 8, message: "queue full", retryAfterMs: 2000 } } },
];

describe("GenerateRequest", () => {
  const request = create(GenerateRequestSchema, fullRequest);

  it("survives a binary round trip with every field set", () => {
    const decoded = fromBinary(GenerateRequestSchema, toBinary(GenerateRequestSchema, request));
    expect(equals(GenerateRequestSchema, decoded, request)).toBe(true);
    expect(decoded.seed).toBe(2n ** 60n + 7n);
    expect(decoded.useComplexHumanInstruction).toBe(false);
  });

  it("survives a JSON round trip, with a 64-bit seed carried exactly as a string", () => {
    const json = toJson(GenerateRequestSchema, request);
    expect(json).toMatchObject({
      negativePrompt: "blurry",
      seed: "1152921504606846983",
      sampler: "SAMPLER_FLOW_DPM_SOLVER",
      outputFormat: "IMAGE_FORMAT_WEBP",
    });
    const decoded = fromJson(GenerateRequestSchema, JSON.parse(JSON.stringify(json)) as JsonValue);
    expect(equals(GenerateRequestSchema, decoded, request)).toBe(true);
  });

  it("encodes an all-default request to zero bytes and a prompt-only request to tag + length + text", () => {
    expect(toBinary(GenerateRequestSchema, create(GenerateRequestSchema)).length).toBe(0);
    const promptOnly = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { prompt: "a cat" }));
    // field 2, wire type 2 (0x12), length 5, then the five UTF-8 bytes
    expect([...promptOnly]).toEqual([0x12, 5, ...new TextEncoder().encode("a cat")]);
  });

  it("distinguishes an explicit seed of 0 from an absent seed", () => {
    const absent = create(GenerateRequestSchema, { prompt: "x" });
    const zero = create(GenerateRequestSchema, { prompt: "x", seed: 0n });
    expect(absent.seed).toBeUndefined();
    const zeroBytes = toBinary(GenerateRequestSchema, zero);
    expect(zeroBytes.length).toBe(toBinary(GenerateRequestSchema, absent).length + 2);
    expect(fromBinary(GenerateRequestSchema, zeroBytes).seed).toBe(0n);
    expect(fromBinary(GenerateRequestSchema, toBinary(GenerateRequestSchema, absent)).seed).toBeUndefined();
  });
});

describe("GenerateResponse events", () => {
  it("covers every case of the event oneof", () => {
    const cases = new Set(events.map((e) => e.event?.case));
    const oneofCases = GenerateResponseSchema.oneofs[0]?.fields.map((f) => f.localName);
    expect([...cases].sort()).toEqual([...(oneofCases ?? [])].sort());
  });

  it.each(events.map((init) => [init.event?.case, init] as const))(
    "%s survives a binary round trip",
    (_, init) => {
      const event = create(GenerateResponseSchema, init);
      const decoded = fromBinary(GenerateResponseSchema, toBinary(GenerateResponseSchema, event));
      expect(decoded.event.case).toBe(init.event?.case);
      expect(equals(GenerateResponseSchema, decoded, event)).toBe(true);
    },
  );

  it.each(events.map((init) => [init.event?.case, init] as const))(
    "%s survives a JSON round trip",
    (_, init) => {
      const event = create(GenerateResponseSchema, init);
      const text = JSON.stringify(toJson(GenerateResponseSchema, event));
      const decoded = fromJson(GenerateResponseSchema, JSON.parse(text) as JsonValue);
      expect(equals(GenerateResponseSchema, decoded, event)).toBe(true);
    },
  );
});

describe("ListModels, GetLoad and Health messages", () => {
  it("round-trip a load report with its model capabilities", () => {
    const report = create(GetLoadResponseSchema, {
      instanceId: "gpu-7",
      queueDepth: 3,
      activeJobs: 1,
      capacity: 2,
      maxQueueDepth: 32,
      estimatedWaitMs: 900,
      draining: true,
      device: "NVIDIA H100 80GB HBM3",
      models: [
        {
          id: "sana-sprint-1.6b",
          revision: "r1",
          pipelineClass: "SanaSprintPipeline",
          capabilities: {
            nativeResolution: 1024,
            maxWidth: 1024,
            maxHeight: 1024,
            resolutionMultiple: 32,
            samplers: [Sampler.SCM],
            defaultSampler: Sampler.SCM,
            defaultSteps: 2,
            maxSteps: 4,
            defaultGuidanceScale: 4.5,
            supportsGuidanceEmbedding: true,
            outputFormats: [ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP],
          },
        },
      ],
    });
    const binary = fromBinary(GetLoadResponseSchema, toBinary(GetLoadResponseSchema, report));
    expect(equals(GetLoadResponseSchema, binary, report)).toBe(true);
    const json = fromJson(GetLoadResponseSchema, toJson(GetLoadResponseSchema, report));
    expect(equals(GetLoadResponseSchema, json, report)).toBe(true);

    const list = create(ListModelsResponseSchema, { models: report.models });
    const listed = fromBinary(ListModelsResponseSchema, toBinary(ListModelsResponseSchema, list));
    expect(listed.models[0]?.capabilities?.samplers).toEqual([Sampler.SCM]);
  });

  it("uses the standard grpc.health.v1 names on the wire", () => {
    expect(HealthCheckResponseSchema.typeName).toBe("grpc.health.v1.HealthCheckResponse");
    const response = create(HealthCheckResponseSchema, {
      status: HealthCheckResponse_ServingStatus.NOT_SERVING,
    });
    expect(toJson(HealthCheckResponseSchema, response)).toEqual({ status: "NOT_SERVING" });
    expect([...toBinary(HealthCheckResponseSchema, response)]).toEqual([0x08, 2]);
  });
});

describe("service descriptors", () => {
  it("declare Generate and Health.Watch as server streaming and the rest as unary", () => {
    expect(ImageService.typeName).toBe("sana.v1.ImageService");
    expect(ImageService.method.generate.methodKind).toBe("server_streaming");
    expect(ImageService.method.listModels.methodKind).toBe("unary");
    expect(ImageService.method.getLoad.methodKind).toBe("unary");
    expect(Health.typeName).toBe("grpc.health.v1.Health");
    expect(Health.method.check.methodKind).toBe("unary");
    expect(Health.method.watch.methodKind).toBe("server_streaming");
  });
});
