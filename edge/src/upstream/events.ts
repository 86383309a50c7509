// Checks the event stream of one sidecar Generate call against the contract (order, image
// integrity) and maps it onto the events the public API streams: `sana.queued` and
// `sana.progress` of our own, previews (OpenAI's `image_generation.partial_image`), and the
// assembled final image, which the caller stores before announcing completion.
// Pure (no I/O) and Web-API only, since it runs inside Workers.
import {
  type Accepted,
  type AssembledImage,
  formatNameOfMime,
  type GenerateResponse,
  ImageAssembler,
  type ImageAssemblerOptions,
  ImageAssemblyError,
  type ImageFormatName,
  Stage,
} from "@sana-edge/proto";

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

/** A preview of the running job, still as the sidecar encoded it. */
export interface PreviewPayload {
  readonly step: number;
  readonly format: ImageFormatName;
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** One checked event of a Generate stream. */
export type UpstreamEvent =
  | { readonly kind: "queued"; readonly data: QueuedPayload }
  | { readonly kind: "progress"; readonly data: ProgressPayload }
  | { readonly kind: "preview"; readonly data: PreviewPayload }
  | { readonly kind: "image"; readonly image: AssembledImage; readonly accepted: Accepted };

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

export interface UpstreamEventOptions {
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
 * Yields the checked events of one Generate stream in the order the contract prescribes.
 * Ends with the assembled image of an OK status; throws UpstreamStatusError for a failed job
 * and UpstreamProtocolError for a stream that breaks the contract.
 */
export async function* upstreamEvents(
  events: AsyncIterable<GenerateResponse>,
  options: UpstreamEventOptions = {},
): AsyncGenerator<UpstreamEvent, void, undefined> {
  const assembler = new ImageAssembler(options.assembler);
  let accepted: Accepted | undefined;

  for await (const { event } of events) {
    if (event.case === undefined) throw new UpstreamProtocolError("received an event with no case set");
    if (accepted === undefined) {
      if (event.case !== "accepted") {
        throw new UpstreamProtocolError(`the first event must be accepted, got ${event.case}`);
      }
      accepted = event.value;
      yield {
        kind: "queued",
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
          kind: "queued",
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
          kind: "progress",
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
        const format = formatNameOfMime(event.value.mime);
        if (format === undefined) {
          throw new UpstreamProtocolError(
            `job ${jobId}: preview has unknown media type "${event.value.mime}"`,
          );
        }
        const { step, data, width, height } = event.value;
        yield { kind: "preview", data: { step, format, data, width, height } };
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
        yield { kind: "image", image, accepted };
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
