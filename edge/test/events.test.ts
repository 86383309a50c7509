import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  finalImageEvents,
  type GenerateResponse,
  GenerateResponseSchema,
  ImageFormat,
  Sampler,
  Stage,
} from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import {
  formatSse,
  generateEventsToSse,
  type SseEvent,
  type SseMappingOptions,
  UpstreamProtocolError,
  UpstreamStatusError,
} from "../src/upstream/events.js";

const NOW_MS = 1_760_000_000_123;
const options: SseMappingOptions = { now: () => NOW_MS };

type EventInit = NonNullable<MessageInitShape<typeof GenerateResponseSchema>["event"]>;
const ev = (event: EventInit): GenerateResponse => create(GenerateResponseSchema, { event });

const accepted = ev({
  case: "accepted",
  value: {
    jobId: "job-9",
    queuePosition: 1,
    seed: 1234n,
    model: "sana-0.6b",
    width: 1024,
    height: 768,
    steps: 20,
    guidanceScale: 4.5,
    sampler: Sampler.FLOW_DPM_SOLVER,
  },
});
const queued = ev({ case: "queued", value: { position: 0, estimatedWaitMs: 250 } });
const progress = (step: number) =>
  ev({ case: "progress", value: { step, totalSteps: 20, elapsedMs: step * 10, stage: Stage.DENOISING } });
const preview = (step: number, bytes: number[]) =>
  ev({
    case: "preview",
    value: { step, data: new Uint8Array(bytes), mime: "image/webp", width: 256, height: 192 },
  });
const ok = ev({ case: "status", value: { code: 0 } });

/** Distinct bytes spanning several chunks, so misplaced data would change the hash. */
const finalBytes = Uint8Array.from({ length: 2 * 1024 * 1024 + 123 }, (_, i) => (i * 7 + (i >>> 11)) & 0xff);

async function imageEvents(seed = 1234n): Promise<GenerateResponse[]> {
  return finalImageEvents({ data: finalBytes, format: ImageFormat.WEBP, width: 1024, height: 768, seed });
}

async function* stream(events: GenerateResponse[]): AsyncGenerator<GenerateResponse> {
  for (const event of events) yield event;
}

async function collect(events: GenerateResponse[], opts: SseMappingOptions = options): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const sse of generateEventsToSse(stream(events), opts)) out.push(sse);
  return out;
}

/** Runs the mapping to its end and returns what it yielded and what it threw. */
async function collectUntilError(
  events: GenerateResponse[],
): Promise<{ yielded: SseEvent[]; error: unknown }> {
  const yielded: SseEvent[] = [];
  try {
    for await (const sse of generateEventsToSse(stream(events), options)) yielded.push(sse);
  } catch (error) {
    return { yielded, error };
  }
  throw new Error("expected the mapping to throw");
}

describe("generateEventsToSse", () => {
  it("maps a successful stream to queued, progress, partial image and completed events in order", async () => {
    const out = await collect([
      accepted,
      queued,
      progress(1),
      progress(10),
      preview(10, [1, 2, 3]),
      progress(20),
      ...(await imageEvents()),
      ok,
    ]);
    expect(out.map((e) => e.event)).toEqual([
      "sana.queued",
      "sana.queued",
      "sana.progress",
      "sana.progress",
      "image_generation.partial_image",
      "sana.progress",
      "image_generation.completed",
    ]);
    expect(out[0]?.data).toEqual({ type: "sana.queued", job_id: "job-9", position: 1, estimated_wait_ms: 0 });
    expect(out[1]?.data).toEqual({
      type: "sana.queued",
      job_id: "job-9",
      position: 0,
      estimated_wait_ms: 250,
    });
    expect(out[3]?.data).toEqual({
      type: "sana.progress",
      job_id: "job-9",
      stage: "denoising",
      step: 10,
      total_steps: 20,
      elapsed_ms: 100,
    });
    expect(out[4]?.data).toEqual({
      type: "image_generation.partial_image",
      b64_json: "AQID",
      created_at: Math.floor(NOW_MS / 1000),
      size: "1024x768",
      quality: "auto",
      background: "opaque",
      output_format: "webp",
      partial_image_index: 0,
    });
    const completed = out[6];
    if (completed?.event !== "image_generation.completed") throw new Error("no completed event");
    expect(completed.data.b64_json === Buffer.from(finalBytes).toString("base64")).toBe(true);
    expect({ ...completed.data, b64_json: "<checked above>" }).toEqual({
      type: "image_generation.completed",
      b64_json: "<checked above>",
      created_at: Math.floor(NOW_MS / 1000),
      size: "1024x768",
      quality: "auto",
      background: "opaque",
      output_format: "webp",
      seed: 1234,
    });
  });

  it("numbers partial images from 0 and drops those beyond maxPartialImages", async () => {
    const out = await collect(
      [accepted, preview(5, [1]), preview(10, [2]), preview(15, [3]), ...(await imageEvents()), ok],
      { ...options, maxPartialImages: 2 },
    );
    const partials = out.flatMap((e) => (e.event === "image_generation.partial_image" ? [e.data] : []));
    expect(partials.map((p) => [p.partial_image_index, p.b64_json])).toEqual([
      [0, "AQ=="],
      [1, "Ag=="],
    ]);
  });

  it("reports a seed beyond 2^53 as an exact decimal string", async () => {
    const seed = 2n ** 63n + 5n;
    const out = await collect([accepted, ...(await imageEvents(seed)), ok]);
    const completed = out.at(-1);
    expect(completed?.event === "image_generation.completed" && completed.data.seed).toBe(
      "9223372036854775813",
    );
  });

  it("throws UpstreamStatusError with code and retry hint after yielding what came before", async () => {
    const failed = ev({ case: "status", value: { code: 4, message: "deadline exceeded", retryAfterMs: 0 } });
    const { yielded, error } = await collectUntilError([accepted, progress(3), failed]);
    expect(yielded.map((e) => e.event)).toEqual(["sana.queued", "sana.progress"]);
    expect(error).toBeInstanceOf(UpstreamStatusError);
    expect(error).toMatchObject({ code: 4, message: "deadline exceeded", retryAfterMs: 0, jobId: "job-9" });
  });

  it("rejects a final image whose bytes do not match its SHA-256", async () => {
    const events = await imageEvents();
    const last = events.at(-1);
    if (last?.event.case !== "imageChunk") throw new Error("expected a chunk last");
    const data = last.event.value.data.slice();
    data[7] = (data[7] ?? 0) ^ 0xff;
    const tampered = ev({ case: "imageChunk", value: { ...last.event.value, data } });
    const { error } = await collectUntilError([accepted, ...events.slice(0, -1), tampered, ok]);
    expect(error).toBeInstanceOf(UpstreamProtocolError);
    expect((error as Error).message).toMatch(/sha256_mismatch/);
    expect((error as Error).cause).toMatchObject({ code: "sha256_mismatch" });
  });

  it("rejects a missing chunk as soon as the next one arrives", async () => {
    const events = await imageEvents();
    const withoutSecondChunk = events.filter((_, i) => i !== 2);
    const { error } = await collectUntilError([accepted, ...withoutSecondChunk, ok]);
    expect((error as Error).cause).toMatchObject({ code: "unexpected_index" });
  });

  it("rejects streams that break the event order", async () => {
    const image = await imageEvents();
    const cases: Array<[string, GenerateResponse[], RegExp]> = [
      ["no accepted first", [progress(1), ok], /first event must be accepted, got progress/],
      ["two accepted", [accepted, accepted], /second accepted/],
      ["progress inside the image", [accepted, ...image.slice(0, 2), progress(20)], /progress arrived after/],
      [
        "OK without an image",
        [accepted, progress(1), ok],
        /status OK arrived before the complete final image/,
      ],
      ["OK with half an image", [accepted, ...image.slice(0, 2), ok], /before the complete final image/],
      ["end without status", [accepted, ...image], /ended before its terminal status/],
      ["empty stream", [], /ended without any event/],
      ["empty event", [accepted, create(GenerateResponseSchema)], /no case set/],
    ];
    for (const [label, events, message] of cases) {
      const { error } = await collectUntilError(events);
      expect(error, label).toBeInstanceOf(UpstreamProtocolError);
      expect((error as Error).message, label).toMatch(message);
    }
  });

  it("stops reading after the terminal status", async () => {
    let pulledAfterStatus = false;
    async function* source(): AsyncGenerator<GenerateResponse> {
      yield accepted;
      for (const event of await imageEvents()) yield event;
      yield ok;
      pulledAfterStatus = true;
      yield progress(1);
    }
    const out: SseEvent[] = [];
    for await (const sse of generateEventsToSse(source(), options)) out.push(sse);
    expect(out.at(-1)?.event).toBe("image_generation.completed");
    expect(pulledAfterStatus).toBe(false);
  });
});

describe("formatSse", () => {
  it("writes one event line, one data line of JSON and a blank line", () => {
    const text = formatSse({
      event: "sana.queued",
      data: { type: "sana.queued", job_id: "j", position: 2, estimated_wait_ms: 0 },
    });
    expect(text).toBe(
      'event: sana.queued\ndata: {"type":"sana.queued","job_id":"j","position":2,"estimated_wait_ms":0}\n\n',
    );
  });
});
