import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sidecar } from "../src/server/sidecar.js";
import { RETRY_AFTER_TRAILER } from "../src/service/image-service.js";
import { stepsRun, stepsWhenSettled } from "./support/engine-probe.js";
import {
  connectClient,
  connectGenerate,
  eventOutline,
  FIXTURE_MODELS,
  type GenerateInit,
  grpcClient,
  grpcGenerate,
  startTestSidecar,
  statusEvent,
  waitFor,
} from "./support/sidecar-clients.js";

// Who gets in and what they get when they cannot: credentials, malformed or out-of-range
// requests, a full queue, deadlines and callers that leave.

let sidecar: Sidecar;

beforeAll(async () => {
  sidecar = await startTestSidecar({
    models: [
      { dir: `${FIXTURE_MODELS}tiny-sana` },
      // 4096² on the 4K fixture takes ~75 ms a step: long enough to cancel mid-run.
      { dir: `${FIXTURE_MODELS}tiny-sana-4k`, id: "slow" },
      { dir: `${FIXTURE_MODELS}tiny-sana-sprint`, id: "sprint" },
    ],
    maxQueueDepth: 1,
    maxBatchSize: 1,
  });
});

afterAll(async () => {
  await sidecar.close();
});

const quick: GenerateInit = { prompt: "a cat", width: 64, height: 64, steps: 2, useResolutionBinning: false };
const slow: GenerateInit = {
  model: "slow",
  prompt: "a slow cat",
  width: 4096,
  height: 4096,
  steps: 100,
  seed: 1n,
};

describe("authentication", () => {
  it.each([
    ["no credentials", undefined],
    ["a wrong secret", "wrong-secret-0123456789abcdef"],
  ])("refuses a caller with %s with UNAUTHENTICATED before any engine work", async (_, secret) => {
    const before = await stepsRun(sidecar);
    const client = grpcClient(sidecar);
    const result = await grpcGenerate(client, quick, { secret });
    client.close();
    expect(result.code).toBe(Code.Unauthenticated);
    expect(result.events).toEqual([]);
    expect(await stepsRun(sidecar)).toBe(before);
  });
});

describe("bad input gets INVALID_ARGUMENT naming the field", () => {
  const cases: [string, GenerateInit, RegExp][] = [
    ["width not a multiple of 32", { ...quick, width: 100 }, /^width: 100 is not a multiple of 32/],
    ["height above the model's maximum", { ...quick, height: 2048 }, /^height: 2048 is out of range/],
    ["steps above the maximum", { ...quick, steps: 101 }, /^steps: 101 is out of range/],
    ["Sprint steps above 4", { ...quick, model: "sprint", steps: 5 }, /^steps: 5 is out of range/],
    ["negative guidance", { ...quick, guidanceScale: -1 }, /^guidance_scale: -1 is out of range/],
    ["an empty prompt", { ...quick, prompt: "   " }, /^prompt: must not be empty/],
    ["a prompt too long", { ...quick, prompt: "x".repeat(4001) }, /^prompt: is 4001 characters long/],
    ["an unknown model", { ...quick, model: "sdxl" }, /^model: unknown model "sdxl"/],
    ["a sampler the model lacks", { ...quick, sampler: 3 }, /^sampler: SCM is not available/],
    ["PAG on Sprint", { ...quick, model: "sprint", pagScale: 2 }, /^pag_scale: sprint does not support/],
    ["quality above 100", { ...quick, outputQuality: 101 }, /^output_quality: 101 is out of range/],
    ["previews less often than steps", { ...quick, previewInterval: 3 }, /^preview_interval: 3 is more than/],
    ["a huge preview", { ...quick, previewMaxSize: 4096 }, /^preview_max_size: 4096 is out of range/],
  ];
  it.each(cases)("%s", async (_, init, message) => {
    const result = await connectGenerate(connectClient(sidecar), init);
    expect([result.code, result.events.length]).toEqual([Code.InvalidArgument, 0]);
    expect(result.message).toMatch(message);
  });

  it("a message that is not a GenerateRequest", async () => {
    const response = await fetch(`${sidecar.url}/sana.v1.ImageService/Generate`, {
      method: "POST",
      headers: {
        "content-type": "application/connect+proto",
        authorization: "Bearer test-secret-0123456789abcdef",
      },
      // An envelope (flags 0, length 3) around bytes that are not a valid protobuf message.
      body: new Uint8Array([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]),
    });
    const body = new Uint8Array(await response.arrayBuffer());
    // Connect streams end with an end-of-stream envelope (flag 2) carrying the error as JSON.
    const text = new TextDecoder().decode(body.subarray(5));
    expect(text).toContain('"code":"invalid_argument"');
  });
});

describe("queue, deadlines and cancellation", () => {
  it("refuses work beyond the queue with RESOURCE_EXHAUSTED and a retry hint", async () => {
    const client = connectClient(sidecar);
    const running = new AbortController();
    const queued = new AbortController();
    const first = connectGenerate(client, slow, { signal: running.signal });
    await waitFor(() => sidecar.service.getLoad().activeJobs === 1, 20_000, "the first job to run");
    const second = connectGenerate(client, { ...slow, seed: 2n }, { signal: queued.signal });
    await waitFor(() => sidecar.service.getLoad().queueDepth === 1, 20_000, "the second job to queue");

    const refused = await connectGenerate(client, { ...quick, model: "slow" });
    expect([refused.code, refused.events.length]).toEqual([Code.ResourceExhausted, 0]);
    expect(Number(refused.trailers[RETRY_AFTER_TRAILER])).toBeGreaterThan(0);

    queued.abort();
    running.abort();
    await Promise.all([first, second]);
    await waitFor(() => sidecar.service.getLoad().activeJobs === 0, 20_000, "the engine to go idle");
  });

  it("a caller that cancels stops the engine within one step", async () => {
    let stepAtCancel = 0;
    const before = await stepsRun(sidecar);
    const client = grpcClient(sidecar);
    const result = await grpcGenerate(client, slow, {
      onEvent: (event, call) => {
        if (event.event.case === "progress" && event.event.value.step === 3) {
          stepAtCancel = event.event.value.step;
          call.cancel();
        }
      },
    });
    client.close();
    expect([result.code, stepAtCancel]).toEqual([Code.Canceled, 3]);
    // The step in flight when the cancel arrived may finish; nothing after it runs (of 100).
    expect((await stepsWhenSettled(sidecar)) - before).toBeLessThanOrEqual(stepAtCancel + 1);
    await waitFor(() => sidecar.service.getLoad().activeJobs === 0, 5_000, "the engine to go idle");
    // The freed engine takes the next job at once.
    expect((await connectGenerate(connectClient(sidecar), { ...quick, model: "slow" })).code).toBe(0);
  });

  it("a queued job that is cancelled leaves the queue without running", async () => {
    const client = connectClient(sidecar);
    const running = new AbortController();
    const first = connectGenerate(client, slow, { signal: running.signal });
    await waitFor(() => sidecar.service.getLoad().activeJobs === 1, 20_000, "the first job to run");
    const queued = new AbortController();
    const second = connectGenerate(client, { ...quick, model: "slow" }, { signal: queued.signal });
    await waitFor(() => sidecar.service.getLoad().queueDepth === 1, 20_000, "the second job to queue");
    queued.abort();
    const result = await second;
    expect(result.code).toBe(Code.Canceled);
    expect(eventOutline(result.events)).toBe("accepted");
    await waitFor(() => sidecar.service.getLoad().queueDepth === 0, 5_000, "the queue to empty");
    running.abort();
    await first;
  });

  it("a deadline that passes ends the call with DEADLINE_EXCEEDED and stops the engine", async () => {
    const start = await stepsRun(sidecar);
    const client = grpcClient(sidecar);
    const result = await grpcGenerate(client, slow, { deadlineMs: 2000 });
    client.close();
    expect(result.code).toBe(Code.DeadlineExceeded);
    // The server cancels the engine when its deadline fires, before the client hears of it:
    // at most the step in flight completes afterwards, and the 100-step job never finishes.
    const atDeadline = await stepsRun(sidecar);
    const settled = await stepsWhenSettled(sidecar);
    expect(settled - atDeadline).toBeLessThanOrEqual(1);
    expect(settled - start).toBeLessThan(100);
    await waitFor(() => sidecar.service.getLoad().activeJobs === 0, 5_000, "the engine to go idle");
  });

  it("a job refused after acceptance ends with a status event carrying the code", async () => {
    const result = await connectGenerate(connectClient(sidecar), slow, { timeoutMs: 1500 });
    expect(result.code).toBe(Code.DeadlineExceeded);
    // Over Connect the server's own deadline check reports first; any status it sent agrees.
    const status = statusEvent(result.events);
    if (status !== undefined) expect(status.code).toBe(Code.DeadlineExceeded);
    await waitFor(() => sidecar.service.getLoad().activeJobs === 0, 5_000, "the engine to go idle");
  });
});
