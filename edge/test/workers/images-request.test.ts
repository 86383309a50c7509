import { ImageFormat, Sampler } from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/api/errors.js";
import {
  type ImagesRequest,
  parseImagesRequest,
  parseJsonBody,
  previewInterval,
  toGenerateRequestInit,
} from "../../src/api/images-request.js";

function rejection(body: unknown): ApiError {
  try {
    parseImagesRequest(body);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

async function bodyRejection(request: Request, maxBytes?: number): Promise<ApiError> {
  try {
    await parseJsonBody(request, maxBytes);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("accepted the body");
}

const post = (body: BodyInit, headers?: HeadersInit) =>
  new Request("https://edge.test/v1/images/generations", {
    method: "POST",
    body,
    ...(headers ? { headers } : {}),
  });

describe("parseImagesRequest", () => {
  it("fills every default when only a prompt is sent", () => {
    expect(parseImagesRequest({ prompt: "a red fox" })).toEqual({
      model: undefined,
      prompt: "a red fox",
      n: 1,
      size: { width: 1024, height: 1024 },
      output_format: "png",
      output_compression: undefined,
      response_format: "b64_json",
      stream: false,
      partial_images: 0,
      negative_prompt: undefined,
      seed: undefined,
      steps: undefined,
      guidance_scale: undefined,
      sampler: undefined,
    } satisfies ImagesRequest);
  });

  it("accepts every field at its limits", () => {
    const request = parseImagesRequest({
      model: "sana-1.6b-1024",
      prompt: "x".repeat(4000),
      n: 4,
      size: "4096x32",
      output_format: "webp",
      output_compression: 100,
      response_format: "url",
      stream: true,
      partial_images: 3,
      negative_prompt: "y".repeat(4000),
      seed: Number.MAX_SAFE_INTEGER,
      steps: 100,
      guidance_scale: 30,
      sampler: "scm",
    });
    expect(request).toMatchObject({
      model: "sana-1.6b-1024",
      n: 4,
      size: { width: 4096, height: 32 },
      output_format: "webp",
      output_compression: 100,
      response_format: "url",
      stream: true,
      partial_images: 3,
      seed: Number.MAX_SAFE_INTEGER,
      steps: 100,
      guidance_scale: 30,
      sampler: "scm",
    });
  });

  it('reads size "auto" as the model\'s native size', () => {
    expect(parseImagesRequest({ prompt: "p", size: "auto" }).size).toBeUndefined();
  });

  it("keeps the prompt exactly as sent, surrounding spaces included", () => {
    expect(parseImagesRequest({ prompt: "  a fox  " }).prompt).toBe("  a fox  ");
  });

  it("ignores OpenAI fields it does not use and fields it does not know", () => {
    const request = parseImagesRequest({
      prompt: "p",
      quality: "high",
      background: "transparent",
      moderation: "low",
      style: "vivid",
      user: "u-1",
      some_future_field: { nested: true },
    });
    expect(request).not.toHaveProperty("quality");
    expect(request).not.toHaveProperty("some_future_field");
    expect(request.prompt).toBe("p");
  });

  it("treats null as not set, as the OpenAI SDKs send it", () => {
    const request = parseImagesRequest({ prompt: "p", n: null, size: null, seed: null, sampler: null });
    expect(request).toMatchObject({ n: 1, size: { width: 1024, height: 1024 }, seed: undefined });
  });

  const invalid: Array<[string, unknown]> = [
    ["model", ""],
    ["model", 7],
    ["prompt", ""],
    ["prompt", "   \n\t"],
    ["prompt", "x".repeat(4001)],
    ["prompt", ["a", "b"]],
    ["n", 0],
    ["n", 5],
    ["n", 1.5],
    ["n", "2"],
    ["size", "1000x1000"],
    ["size", "16x16"],
    ["size", "4128x1024"],
    ["size", "1024"],
    ["size", "1024X1024"],
    ["size", " 1024x1024"],
    ["size", 1024],
    ["output_format", "gif"],
    ["output_format", "PNG"],
    ["output_compression", -1],
    ["output_compression", 101],
    ["output_compression", 50.5],
    ["response_format", "base64"],
    ["stream", "true"],
    ["partial_images", 4],
    ["partial_images", -1],
    ["negative_prompt", "x".repeat(4001)],
    ["negative_prompt", 3],
    ["seed", -1],
    ["seed", 1.5],
    ["seed", Number.MAX_SAFE_INTEGER + 1],
    ["seed", "42"],
    ["steps", 0],
    ["steps", 101],
    ["steps", 2.5],
    ["guidance_scale", -0.1],
    ["guidance_scale", 30.5],
    ["guidance_scale", "4.5"],
    ["sampler", "euler"],
  ];
  it.each(invalid)("refuses %s = %j with a 400 naming the field", (param, value) => {
    const error = rejection({ prompt: "a fox", [param]: value });
    expect(error.status).toBe(400);
    expect(error.type).toBe("invalid_request_error");
    expect(error.param).toBe(param);
    expect(error.code).toBe("invalid_value");
    expect(error.message).toContain(`'${param}'`);
  });

  it("tells what a field expects in the message", () => {
    expect(rejection({ prompt: "p", size: "1000x1000" }).message).toBe(
      `Invalid 'size': expected "auto" or "WIDTHxHEIGHT" with each side a multiple of 32 from 32 to 4096, e.g. "1024x1024", got "1000x1000".`,
    );
  });

  it("does not echo a long prompt back in the error", () => {
    const message = rejection({ prompt: "secret ".repeat(700) }).message;
    expect(message).toContain("a string of 4900 characters");
    expect(message).not.toContain("secret");
  });

  it("reports a missing prompt as a missing required parameter", () => {
    for (const body of [{}, { prompt: null }, { n: 2 }]) {
      const error = rejection(body);
      expect([error.status, error.param, error.code]).toEqual([400, "prompt", "missing_required_parameter"]);
      expect(error.message).toBe("Missing required parameter: 'prompt'.");
    }
  });

  it("names the first offending field when several are wrong", () => {
    expect(rejection({ prompt: "p", n: 9, size: "1x1" }).param).toBe("n");
  });

  it("refuses bodies that are not JSON objects without naming a field", () => {
    for (const body of [null, [], "prompt", 3]) {
      const error = rejection(body);
      expect([error.status, error.param]).toEqual([400, null]);
    }
  });
});

describe("parseJsonBody", () => {
  it("returns the parsed object", async () => {
    expect(await parseJsonBody(post('{"prompt":"p"}'))).toEqual({ prompt: "p" });
  });

  it("refuses a body whose Content-Length exceeds the limit without reading it", async () => {
    const error = await bodyRejection(post("{}", { "content-length": "65537" }));
    expect(error.status).toBe(413);
  });

  it("refuses a body that turns out larger than the limit while reading", async () => {
    const big = JSON.stringify({ prompt: "x".repeat(200) });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    expect((await bodyRejection(post(stream), 100)).status).toBe(413);
  });

  it("accepts a body of exactly the limit", async () => {
    const body = JSON.stringify({ prompt: "x".repeat(87) });
    expect(body.length).toBe(100);
    await expect(parseJsonBody(post(body), 100)).resolves.toEqual({ prompt: "x".repeat(87) });
  });

  it("refuses invalid JSON, an empty body and invalid UTF-8 with a 400", async () => {
    for (const body of ['{"prompt":', "", new Uint8Array([0x7b, 0xff, 0x7d])]) {
      const error = await bodyRejection(post(body));
      expect([error.status, error.param, error.code]).toEqual([400, null, "invalid_json"]);
    }
  });

  it("refuses JSON that is not an object with a 400", async () => {
    for (const body of ["[]", "null", '"prompt"', "42"]) {
      expect((await bodyRejection(post(body))).status).toBe(400);
    }
  });
});

describe("toGenerateRequestInit", () => {
  const base = parseImagesRequest({ prompt: "a fox" });

  it("leaves every model default unset on the wire", () => {
    expect(toGenerateRequestInit(base, 0, { defaultSteps: 20 })).toEqual({
      model: "",
      prompt: "a fox",
      negativePrompt: "",
      width: 1024,
      height: 1024,
      steps: 0,
      sampler: Sampler.UNSPECIFIED,
      outputFormat: ImageFormat.PNG,
      outputQuality: 0,
      previewInterval: 0,
      clientRequestId: "",
    });
  });

  it("gives image i of n the seed plus i", () => {
    const request = parseImagesRequest({ prompt: "p", n: 3, seed: 41 });
    expect([0, 1, 2].map((i) => toGenerateRequestInit(request, i, { defaultSteps: 20 }).seed)).toEqual([
      41n,
      42n,
      43n,
    ]);
  });

  it("leaves the seed unset when the request has none, so the sidecar draws one", () => {
    expect(toGenerateRequestInit(base, 1, { defaultSteps: 20 })).not.toHaveProperty("seed");
  });

  it("maps every SANA field and the routed model", () => {
    const request = parseImagesRequest({
      model: "ignored-by-routing",
      prompt: "p",
      size: "auto",
      negative_prompt: "blurry",
      steps: 8,
      guidance_scale: 4.5,
      sampler: "flow_euler",
      output_format: "jpeg",
      output_compression: 80,
    });
    expect(
      toGenerateRequestInit(request, 0, { defaultSteps: 20, model: "sana-1.6b", clientRequestId: "req-1" }),
    ).toMatchObject({
      model: "sana-1.6b",
      negativePrompt: "blurry",
      width: 0,
      height: 0,
      steps: 8,
      guidanceScale: 4.5,
      sampler: Sampler.FLOW_EULER,
      outputFormat: ImageFormat.JPEG,
      outputQuality: 80,
      clientRequestId: "req-1",
    });
  });

  it("sends compression 0 as quality 1, since 0 means the sidecar's default", () => {
    const request = parseImagesRequest({ prompt: "p", output_format: "webp", output_compression: 0 });
    expect(toGenerateRequestInit(request, 0, { defaultSteps: 20 }).outputQuality).toBe(1);
  });

  it("does not send a quality for PNG", () => {
    const request = parseImagesRequest({ prompt: "p", output_compression: 50 });
    expect(toGenerateRequestInit(request, 0, { defaultSteps: 20 }).outputQuality).toBe(0);
  });

  it("asks for previews only when streaming, spaced by the request's steps or the model default", () => {
    const streamed = parseImagesRequest({ prompt: "p", stream: true, partial_images: 3 });
    expect(toGenerateRequestInit(streamed, 0, { defaultSteps: 20 }).previewInterval).toBe(5);
    const withSteps = parseImagesRequest({ prompt: "p", stream: true, partial_images: 1, steps: 30 });
    expect(toGenerateRequestInit(withSteps, 0, { defaultSteps: 20 }).previewInterval).toBe(15);
    const notStreamed = parseImagesRequest({ prompt: "p", partial_images: 3 });
    expect(toGenerateRequestInit(notStreamed, 0, { defaultSteps: 20 }).previewInterval).toBe(0);
  });
});

describe("previewInterval", () => {
  const previewsBeforeLastStep = (interval: number, steps: number) =>
    interval === 0 ? 0 : Math.floor((steps - 1) / interval);

  it("never yields more previews than asked before the last step, and no fewer than a fixed interval can", () => {
    for (let steps = 1; steps <= 100; steps++) {
      for (let partial = 1; partial <= 3; partial++) {
        const interval = previewInterval(partial, steps);
        const label = `${partial} previews over ${steps} steps`;
        expect(previewsBeforeLastStep(interval, steps), label).toBeLessThanOrEqual(partial);
        if (interval > 1) expect(previewsBeforeLastStep(interval - 1, steps), label).toBeGreaterThan(partial);
      }
    }
  });

  it("spreads previews evenly when the steps allow it", () => {
    expect(previewInterval(3, 20)).toBe(5);
    expect(previewInterval(3, 4)).toBe(1);
    expect(previewInterval(1, 2)).toBe(1);
  });

  it("asks for none when there is no step before the last", () => {
    expect(previewInterval(3, 1)).toBe(0);
  });

  it("asks for no previews when none are wanted", () => {
    expect(previewInterval(0, 20)).toBe(0);
  });
});
