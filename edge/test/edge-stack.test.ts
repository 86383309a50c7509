import type { Sidecar } from "@sana-edge/sidecar";
import { createLogger, startSidecar } from "@sana-edge/sidecar";
import OpenAI from "openai";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalEdge, startLocalEdge } from "./support/local-edge.js";

// The worker under `wrangler dev` in front of two real sidecars running the native engine on
// the tiny fixture model, driven with the official openai SDK as any client would.

const MODELS = new URL("../../test/fixtures/golden/models/", import.meta.url).pathname;
const SECRET = "edge-to-sidecar-secret-0123456789";

let sidecars: Sidecar[];
let edge: LocalEdge;
let client: OpenAI;

async function sidecarNamed(): Promise<Sidecar> {
  return startSidecar({
    models: [
      { dir: `${MODELS}tiny-sana`, revision: "fixture-r1" },
      // ~75 ms a step at 4096²: long enough to leave in the middle of.
      { dir: `${MODELS}tiny-sana-4k`, id: "slow", revision: "fixture-r1" },
    ],
    host: "127.0.0.1",
    port: 0,
    secret: SECRET,
    maxQueueDepth: 16,
    maxBatchSize: 4,
    drainGraceMs: 1000,
    log: createLogger({ level: "silent" }),
  });
}

/** Denoising steps run across both sidecars, from their own metrics. */
async function stepsRun(): Promise<number> {
  let total = 0;
  for (const sidecar of sidecars) {
    const text = await sidecar.metrics.render();
    for (const match of text.matchAll(/^sana_denoise_steps_total\{[^}]*\} (\d+)$/gm))
      total += Number(match[1]);
  }
  return total;
}

/** Generations run across both sidecars, from their own metrics. */
async function generationsRun(): Promise<number> {
  let total = 0;
  for (const sidecar of sidecars) {
    const text = await sidecar.metrics.render();
    for (const match of text.matchAll(/^sana_generation_seconds_count\{[^}]*outcome="ok"[^}]*\} (\d+)$/gm)) {
      total += Number(match[1]);
    }
  }
  return total;
}

beforeAll(async () => {
  sidecars = [await sidecarNamed(), await sidecarNamed()];
  edge = await startLocalEdge({
    sidecars: sidecars.map((s, i) => ({ id: `gpu-${i}`, url: s.url })),
    secret: SECRET,
  });
  client = new OpenAI({ apiKey: await edge.createKey("tests"), baseURL: `${edge.url}/v1`, maxRetries: 0 });
}, 180_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all((sidecars ?? []).map((s) => s.close()));
});

/** SANA's own fields ride along with OpenAI's; the SDK passes unknown body fields through. */
function sana<T extends object>(params: T, extra: Record<string, unknown>): T {
  return { ...params, ...extra };
}

describe("the edge in front of two sidecars", () => {
  it("answers a non-streamed generation with an image of the asked size", async () => {
    const result = await client.images.generate(
      sana({ model: "tiny-sana", prompt: "a lighthouse", size: "256x192" as "1024x1024" }, { steps: 3 }),
    );
    const b64 = result.data?.[0]?.b64_json;
    if (b64 === undefined) throw new Error("no image");
    const meta = await sharp(Buffer.from(b64, "base64")).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 256, 192]);
  });

  it("streams partial images, then the completed image", async () => {
    const stream = await client.images.generate(
      sana(
        {
          model: "tiny-sana",
          prompt: "a harbour at night",
          size: "256x256" as "1024x1024",
          stream: true as const,
          partial_images: 2,
        },
        { steps: 6 },
      ),
    );
    const types: string[] = [];
    let completed = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "image_generation.completed") completed = event.b64_json;
    }
    const openAiTypes = types.filter((t) => t.startsWith("image_generation."));
    expect(openAiTypes).toEqual([
      "image_generation.partial_image",
      "image_generation.partial_image",
      "image_generation.completed",
    ]);
    expect(types).toContain("sana.progress");
    const meta = await sharp(Buffer.from(completed, "base64")).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
  });

  it("serves the second identical seeded request from the cache: same bytes, no sidecar work", async () => {
    const params = sana(
      { model: "tiny-sana", prompt: "a red fox", size: "128x128" as "1024x1024" },
      { seed: 42, steps: 3 },
    );
    const first = await client.images.generate(params).withResponse();
    const before = await generationsRun();
    const second = await client.images.generate(params).withResponse();
    expect(first.response.headers.get("x-sana-cache")).toBe("miss");
    expect(second.response.headers.get("x-sana-cache")).toBe("hit");
    expect(second.data.data?.[0]?.b64_json).toBe(first.data.data?.[0]?.b64_json);
    expect(await generationsRun()).toBe(before);
  });

  it("coalesces two identical concurrent requests into one generation", async () => {
    const params = sana(
      { model: "tiny-sana", prompt: "a blue whale", size: "512x512" as "1024x1024" },
      { seed: 7, steps: 40 },
    );
    const before = await generationsRun();
    const [a, b] = await Promise.all([
      client.images.generate(params).withResponse(),
      client.images.generate(params).withResponse(),
    ]);
    // Both were misses (neither found a stored result), yet only one generation ran.
    expect([a.response.headers.get("x-sana-cache"), b.response.headers.get("x-sana-cache")]).toEqual([
      "miss",
      "miss",
    ]);
    expect(a.data.data?.[0]?.b64_json).toBe(b.data.data?.[0]?.b64_json);
    expect((await generationsRun()) - before).toBe(1);
  });

  it("refuses a bad key with 401 and a bad size with 400 in OpenAI's shape", async () => {
    const stranger = new OpenAI({
      apiKey: "sk-sana-notarealkey.secret",
      baseURL: `${edge.url}/v1`,
      maxRetries: 0,
    });
    await expect(stranger.images.generate({ prompt: "x" })).rejects.toMatchObject({ status: 401 });
    await expect(
      client.images.generate({ prompt: "x", size: "100x100" as "1024x1024" }),
    ).rejects.toMatchObject({ status: 400, param: "size", type: "invalid_request_error" });
  });

  it("answers 429 with Retry-After once a key's rate limit is used up", async () => {
    const limited = new OpenAI({
      apiKey: await edge.createKey("limited", { rpm: 1 }),
      baseURL: `${edge.url}/v1`,
      maxRetries: 0,
    });
    const params = sana({ prompt: "a cat", size: "64x64" as "1024x1024" }, { steps: 1 });
    await limited.images.generate(params);
    const refusal = await limited.images.generate(params).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(OpenAI.RateLimitError);
    expect(
      Number((refusal as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after")),
    ).toBeGreaterThan(0);
  });

  it.each([
    ["its own generation", {}],
    ["a coalesced generation", { seed: 99 }],
  ])("stops the sidecar's work on %s when the client goes away", async (_, extra) => {
    const controller = new AbortController();
    const response = await fetch(`${edge.url}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "slow",
        prompt: "a long walk",
        size: "4096x4096",
        steps: 100,
        stream: true,
        ...extra,
      }),
      signal: controller.signal,
    });
    const before = await stepsRun();
    const reader = response.body?.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes('"step":3,')) {
      const chunk = await reader?.read();
      if (chunk === undefined || chunk.done) throw new Error(`stream ended early: ${text}`);
      text += decoder.decode(chunk.value);
    }
    controller.abort();
    const busy = () => sidecars.reduce((total, s) => total + s.service.getLoad().activeJobs, 0);
    const deadline = Date.now() + 5_000;
    while (busy() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(busy()).toBe(0);
    // The job stopped a few steps after the client left, far from its 100.
    expect((await stepsRun()) - before).toBeLessThan(30);
  });

  it("gives a key's concurrency slot back when its client leaves mid-stream", async () => {
    const key = await edge.createKey("one-at-a-time", { concurrency: 1 });
    for (let attempt = 0; attempt < 3; attempt++) {
      const controller = new AbortController();
      const response = await fetch(`${edge.url}/v1/images/generations`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "slow",
          prompt: `leave ${attempt}`,
          size: "4096x4096",
          steps: 100,
          stream: true,
        }),
        signal: controller.signal,
      });
      // A refusal here would be the slot of the previous attempt, still taken.
      expect(response.status).toBe(200);
      await response.body?.getReader().read();
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });

  it("keeps serving when one sidecar dies", async () => {
    const [dead] = sidecars;
    await dead?.close();
    for (let i = 0; i < 4; i++) {
      const result = await client.images.generate(
        sana({ model: "tiny-sana", prompt: `survivor ${i}`, size: "64x64" as "1024x1024" }, { steps: 1 }),
      );
      expect(result.data?.[0]?.b64_json?.length).toBeGreaterThan(0);
    }
  });
});
