// Maps the event stream of one sidecar Generate call onto the server-sent events
// the public API streams: OpenAI's `image_generation.partial_image` and
// `image_generation.completed`, plus `sana.queued` / `sana.progress` of our own.
// Pure (no I/O) and Web-API only, since it runs inside Workers.
import {
  type Accepted,
  formatNameOfMime,
  type GenerateResponse,
  ImageAssembler,
  type ImageAssemblerOptions,
  ImageAssemblyError,
  type ImageFormatName,
  imageFormatName,
  Stage,
} from "@sana-edge/proto";
import { encodeBase64 } from "../encoding/base64.js";

/** Where the job stands in the queue (sent on acceptance and on every change). */
export interface QueuedPayload {
  readonly type: "sana.queued";
  readonly job_id: string;
  /** Jobs ahead of this one; 0 means it starts as soon as a slot frees up. */
  readonly position: number;
  /** Estimated wait in milliseconds; 0 when unknown. */
  readonly estimated_wait_ms: number;
}

export type StageName = "unspecified" | "encoding_prompt" | "denoising" | "decoding" | "encoding_image";

/** How far the running job is. */
export interface ProgressPayload {
  readonly type: "sana.progress";
  readonly job_id: string;
  readonly stage: StageName;
  readonly step: number;
  readonly total_steps: number;
  readonly elapsed_ms: number;
}

/** Fields OpenAI's image stream events share. */
interface OpenAiImageFields {
  /** Unix time in seconds. */
  readonly created_at: number;
  /** "WIDTHxHEIGHT" of the requested (final) image. */
  readonly size: string;
  readonly quality: "auto";
  /** SANA renders no alpha channel. */
  readonly background: "opaque";
  readonly output_format: ImageFormatName;
  readonly b64_json: string;
}

/** OpenAI's `image_generation.partial_image`: a preview. */
export interface PartialImagePayload extends OpenAiImageFields {
  readonly type: "image_generation.partial_image";
  /** 0-based, counting the previews sent so far. */
  readonly partial_image_index: number;
}

/** OpenAI's `image_generation.completed`, plus the seed that reproduces the image. */
export interface CompletedPayload extends OpenAiImageFields {
  readonly type: "image_generation.completed";
  /** A number when it fits a double exactly, else its decimal string. */
  readonly seed: number | string;
}

/** One server-sent event: its `event:` name and its `data:` object. */
export type SseEvent =
  | { readonly event: "sana.queued"; readonly data: QueuedPayload }
  | { readonly event: "sana.progress"; readonly data: ProgressPayload }
  | { readonly event: "image_generation.partial_image"; readonly data: PartialImagePayload }
  | { readonly event: "image_generation.completed"; readonly data: CompletedPayload };

/** The sidecar ended the job with a non-OK status (after accepting it). */
export class UpstreamStatusError extends Error {
  override readonly name = "UpstreamStatusError";
  constructor(
    /** gRPC status code (google.rpc.Code numbering). */
    readonly code: number,
    message: string,
    /** Retry hint in milliseconds; 0 when none. */
    readonly retryAfterMs: number,
    readonly jobId: string | undefined,
  ) {
    super(message);
  }
}

/** The sidecar broke the stream contract (order, image integrity, truncation). */
export class UpstreamProtocolError extends Error {
  override readonly name = "UpstreamProtocolError";
}

export interface SseMappingOptions {
  /** Clock for `created_at`, in milliseconds; defaults to Date.now. */
  readonly now?: () => number;
  /** Previews beyond this many are dropped (OpenAI allows 0-3); default unlimited. */
  readonly maxPartialImages?: number;
  /** Passed to the image assembler (e.g. its size limit). */
  readonly assembler?: ImageAssemblerOptions;
}

const STAGE_NAMES: Record<Stage, StageName> = {
  [Stage.UNSPECIFIED]: "unspecified",
  [Stage.ENCODING_PROMPT]: "encoding_prompt",
  [Stage.DENOISING]: "denoising",
  [Stage.DECODING]: "decoding",
  [Stage.ENCODING_IMAGE]: "encoding_image",
};

/**
 * Yields the SSE events for the events of one Generate stream, checking the
 * order the contract prescribes. Ends after the `image_generation.completed` of
 * an OK status; throws UpstreamStatusError for a failed job and
 * UpstreamProtocolError for a stream that breaks the contract.
 */
export async function* generateEventsToSse(
  events: AsyncIterable<GenerateResponse>,
  options: SseMappingOptions = {},
): AsyncGenerator<SseEvent, void, undefined> {
  const now = options.now ?? Date.now;
  const maxPartialImages = options.maxPartialImages ?? Number.POSITIVE_INFINITY;
  const assembler = new ImageAssembler(options.assembler);
  let accepted: Accepted | undefined;
  let partialImages = 0;

  const createdAt = () => Math.floor(now() / 1000);

  for await (const { event } of events) {
    if (event.case === undefined) throw new UpstreamProtocolError("received an event with no case set");
    if (accepted === undefined) {
      if (event.case !== "accepted") {
        throw new UpstreamProtocolError(`the first event must be accepted, got ${event.case}`);
      }
      accepted = event.value;
      yield {
        event: "sana.queued",
        data: {
          type: "sana.queued",
          job_id: accepted.jobId,
          position: accepted.queuePosition,
          estimated_wait_ms: 0,
        },
      };
      continue;
    }
    const jobId = accepted.jobId;
    const beforeImage = (what: string): void => {
      if (assembler.header !== undefined) {
        throw new UpstreamProtocolError(`job ${jobId}: ${what} arrived after the final image began`);
      }
    };

    switch (event.case) {
      case "accepted":
        throw new UpstreamProtocolError(`job ${jobId}: a second accepted event arrived`);
      case "queued":
        beforeImage("queued");
        yield {
          event: "sana.queued",
          data: {
            type: "sana.queued",
            job_id: jobId,
            position: event.value.position,
            estimated_wait_ms: event.value.estimatedWaitMs,
          },
        };
        break;
      case "progress":
        beforeImage("progress");
        yield {
          event: "sana.progress",
          data: {
            type: "sana.progress",
            job_id: jobId,
            stage: STAGE_NAMES[event.value.stage] ?? "unspecified",
            step: event.value.step,
            total_steps: event.value.totalSteps,
            elapsed_ms: event.value.elapsedMs,
          },
        };
        break;
      case "preview": {
        beforeImage("preview");
        if (partialImages >= maxPartialImages) break;
        const outputFormat = formatNameOfMime(event.value.mime);
        if (outputFormat === undefined) {
          throw new UpstreamProtocolError(
            `job ${jobId}: preview has unknown media type "${event.value.mime}"`,
          );
        }
        yield {
          event: "image_generation.partial_image",
          data: {
            type: "image_generation.partial_image",
            b64_json: encodeBase64(event.value.data),
            created_at: createdAt(),
            size: `${accepted.width}x${accepted.height}`,
            quality: "auto",
            background: "opaque",
            output_format: outputFormat,
            partial_image_index: partialImages++,
          },
        };
        break;
      }
      case "imageHeader": {
        const header = event.value;
        await checkedImageStep(jobId, () => assembler.addHeader(header));
        break;
      }
      case "imageChunk": {
        const chunk = event.value;
        await checkedImageStep(jobId, () => assembler.addChunk(chunk));
        break;
      }
      case "status": {
        const { code, message, retryAfterMs } = event.value;
        if (code !== 0) throw new UpstreamStatusError(code, message, retryAfterMs, jobId);
        if (!assembler.complete) {
          throw new UpstreamProtocolError(`job ${jobId}: status OK arrived before the complete final image`);
        }
        const image = await checkedImageStep(jobId, () => assembler.finish());
        yield {
          event: "image_generation.completed",
          data: {
            type: "image_generation.completed",
            b64_json: encodeBase64(image.data),
            created_at: createdAt(),
            size: `${image.header.width}x${image.header.height}`,
            quality: "auto",
            background: "opaque",
            output_format: imageFormatName(image.header.format),
            seed: seedForJson(image.header.seed),
          },
        };
        // The status is the last event by contract; nothing after it is read.
        return;
      }
    }
  }
  throw new UpstreamProtocolError(
    accepted === undefined
      ? "the stream ended without any event"
      : `job ${accepted.jobId}: the stream ended before its terminal status`,
  );
}

/** Formats one event as `text/event-stream` (JSON never contains a raw newline). */
export function formatSse(event: SseEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** Runs one assembler step, reporting a rejected image as a protocol error. */
async function checkedImageStep<T>(jobId: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof ImageAssemblyError)) throw error;
    throw new UpstreamProtocolError(`job ${jobId}: final image rejected (${error.code}): ${error.message}`, {
      cause: error,
    });
  }
}

function seedForJson(seed: bigint): number | string {
  return seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed.toString();
}
