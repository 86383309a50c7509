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
  type UpstreamEvent,
  UpstreamProtocolError,
  UpstreamStatusError,
  upstreamEvents,
} from "../src/upstream/events.js";

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

async function collect(events: GenerateResponse[]): Promise<UpstreamEvent[]> {
  const out: UpstreamEvent[] = [];
  for await (const event of upstreamEvents(stream(events))) out.push(event);
  return out;
}

/** Runs the mapping to its end and returns what it yielded and what it threw. */
async function collectUntilError(
  events: GenerateResponse[],
): Promise<{ yielded: UpstreamEvent[]; error: unknown }> {
  const yielded: UpstreamEvent[] = [];
  try {
    for await (const event of upstreamEvents(stream(events))) yielded.push(event);
  } catch (error) {
    return { yielded, error };
  }
  throw new Error("expected the mapping to throw");
}

describe("upstreamEvents", () => {
  it("maps a successful stream to queued, progress, preview and the assembled image in order", async () => {
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
    expect(out.map((e) => e.kind)).toEqual([
      "queued",
      "queued",
      "progress",
      "progress",
      "preview",
      "progress",
      "image",
    ]);
    expect(out[0]).toEqual({
      kind: "queued",
      data: { type: "sana.queued", job_id: "job-9", position: 1, estimated_wait_ms: 0 },
    });
    expect(out[1]).toEqual({
      kind: "queued",
      data: { type: "sana.queued", job_id: "job-9", position: 0, estimated_wait_ms: 250 },
    });
    expect(out[3]).toEqual({
      kind: "progress",
      data: {
        type: "sana.progress",
        job_id: "job-9",
        stage: "denoising",
        step: 10,
        total_steps: 20,
        elapsed_ms: 100,
      },
    });
    expect(out[4]).toEqual({
      kind: "preview",
      data: { step: 10, format: "webp", data: new Uint8Array([1, 2, 3]), width: 256, height: 192 },
    });
    const last = out[6];
    if (last?.kind !== "image") throw new Error("no image event");
    expect(Buffer.from(last.image.data).equals(Buffer.from(finalBytes))).toBe(true);
    expect(last.image.header).toMatchObject({ width: 1024, height: 768, seed: 1234n, mime: "image/webp" });
    expect(last.accepted.jobId).toBe("job-9");
  });

  it("throws UpstreamStatusError with code and retry hint after yielding what came before", async () => {
    const failed = ev({ case: "status", value: { code: 4, message: "deadline exceeded", retryAfterMs: 0 } });
    const { yielded, error } = await collectUntilError([accepted, progress(3), failed]);
    expect(yielded.map((e) => e.kind)).toEqual(["queued", "progress"]);
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
    const out: UpstreamEvent[] = [];
    for await (const event of upstreamEvents(source())) out.push(event);
    expect(out.at(-1)?.kind).toBe("image");
    expect(pulledAfterStatus).toBe(false);
  });
});
