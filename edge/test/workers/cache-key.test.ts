import { create } from "@bufbuild/protobuf";
import { ImageFormat, ModelCapabilitiesSchema, Sampler } from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import { parseImagesRequest } from "../../src/api/images-request.js";
import { type CacheKeyModel, cacheKey, canonicalJson } from "../../src/cache/cache-key.js";

const capabilities = create(ModelCapabilitiesSchema, {
  nativeResolution: 1024,
  maxWidth: 4096,
  maxHeight: 4096,
  resolutionMultiple: 32,
  samplers: [Sampler.FLOW_DPM_SOLVER, Sampler.FLOW_EULER],
  defaultSampler: Sampler.FLOW_DPM_SOLVER,
  defaultSteps: 20,
  maxSteps: 100,
  defaultGuidanceScale: 4.5,
  supportsNegativePrompt: true,
  outputFormats: [ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP],
});
const MODEL: CacheKeyModel = { id: "sana-1.6b-1024", revision: "rev-a", capabilities };
const SPRINT: CacheKeyModel = {
  id: "sana-sprint",
  revision: "rev-s",
  capabilities: create(ModelCapabilitiesSchema, {
    nativeResolution: 1024,
    defaultSampler: Sampler.SCM,
    defaultSteps: 2,
    defaultGuidanceScale: 4.5,
    supportsGuidanceEmbedding: true,
    supportsNegativePrompt: false,
  }),
};

const BASE = { prompt: "a red fox in the snow", seed: 42 };

function keyOf(body: Record<string, unknown>, index = 0, model: CacheKeyModel = MODEL) {
  return cacheKey(parseImagesRequest(body), index, model);
}

describe("cacheKey", () => {
  it("is a hex SHA-256", async () => {
    expect(await keyOf(BASE)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is undefined without a seed, since the result is not reproducible", async () => {
    expect(await keyOf({ prompt: "a red fox in the snow" })).toBeUndefined();
  });

  it("does not depend on the order of the request's fields", async () => {
    const forward = { prompt: "p", seed: 1, size: "512x768", steps: 10, output_format: "webp" };
    const backward = { output_format: "webp", steps: 10, size: "512x768", seed: 1, prompt: "p" };
    expect(await keyOf(forward)).toBe(await keyOf(backward));
  });

  it("is the same whether defaults are left out or sent explicitly", async () => {
    const explicit = {
      ...BASE,
      size: "1024x1024",
      steps: 20,
      guidance_scale: 4.5,
      sampler: "flow_dpm_solver",
      output_format: "png",
      negative_prompt: "",
    };
    expect(await keyOf(BASE)).toBe(await keyOf(explicit));
  });

  it('takes size "auto" as the model\'s native size', async () => {
    expect(await keyOf({ ...BASE, size: "auto" })).toBe(await keyOf({ ...BASE, size: "1024x1024" }));
  });

  it("ignores what only changes the delivery: n, stream, partial_images, response_format", async () => {
    const delivered = { ...BASE, n: 4, stream: true, partial_images: 2, response_format: "url" };
    expect(await keyOf(delivered)).toBe(await keyOf(BASE));
  });

  it("makes image i of a request equal a one-image request with seed + i", async () => {
    expect(await keyOf({ ...BASE, n: 3 }, 2)).toBe(await keyOf({ ...BASE, seed: 44 }, 0));
    expect(await keyOf(BASE, 1)).not.toBe(await keyOf(BASE, 0));
  });

  it("changes with everything that changes the image", async () => {
    const variants: Array<[string, Record<string, unknown>]> = [
      ["seed", { ...BASE, seed: 43 }],
      ["prompt", { ...BASE, prompt: "a red fox in the snow." }],
      ["prompt whitespace", { ...BASE, prompt: "a red fox in the snow " }],
      ["negative prompt", { ...BASE, negative_prompt: "blurry" }],
      ["size", { ...BASE, size: "1024x768" }],
      ["steps", { ...BASE, steps: 21 }],
      ["guidance", { ...BASE, guidance_scale: 5 }],
      ["sampler", { ...BASE, sampler: "flow_euler" }],
      ["format", { ...BASE, output_format: "webp" }],
    ];
    const base = await keyOf(BASE);
    const keys = await Promise.all(variants.map(([, body]) => keyOf(body)));
    for (const [i, [what]] of variants.entries()) expect(keys[i], what).not.toBe(base);
    expect(new Set(keys).size).toBe(variants.length);
  });

  it("changes with the model id and with its weights revision", async () => {
    const base = await keyOf(BASE);
    expect(await keyOf(BASE, 0, { ...MODEL, revision: "rev-b" })).not.toBe(base);
    expect(await keyOf(BASE, 0, { ...MODEL, id: "sana-600m-1024" })).not.toBe(base);
  });

  it("keys compression only for lossy formats", async () => {
    const jpeg = { ...BASE, output_format: "jpeg" };
    expect(await keyOf({ ...jpeg, output_compression: 80 })).not.toBe(
      await keyOf({ ...jpeg, output_compression: 90 }),
    );
    expect(await keyOf({ ...BASE, output_compression: 80 })).toBe(await keyOf(BASE));
  });

  it("treats compression 0 like 1, as the sidecar receives them", async () => {
    const webp = { ...BASE, output_format: "webp" };
    expect(await keyOf({ ...webp, output_compression: 0 })).toBe(
      await keyOf({ ...webp, output_compression: 1 }),
    );
  });

  it("drops the negative prompt for models that ignore it", async () => {
    const withNegative = await keyOf({ ...BASE, negative_prompt: "blurry" }, 0, SPRINT);
    expect(withNegative).toBe(await keyOf(BASE, 0, SPRINT));
  });

  it("fills defaults from the model it runs on", async () => {
    expect(await keyOf({ ...BASE, steps: 2, sampler: "scm" }, 0, SPRINT)).toBe(await keyOf(BASE, 0, SPRINT));
  });

  it("compares guidance at the float32 precision the wire carries", async () => {
    expect(await keyOf({ ...BASE, guidance_scale: 0.1 })).toBe(
      await keyOf({ ...BASE, guidance_scale: Math.fround(0.1) }),
    );
  });

  it("stays exact for seeds near 2^53", async () => {
    const top = { ...BASE, seed: Number.MAX_SAFE_INTEGER };
    expect(await keyOf(top, 1)).not.toBe(await keyOf(top, 2));
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: null, c: "x" } })).toBe('{"a":{"c":"x","d":null},"b":1}');
  });
});
