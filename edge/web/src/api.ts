import { readSse, type SseMessage } from "./sse.js";

// The edge's public API as this page uses it: GET /v1/models and the streamed
// POST /v1/images/generations (docs/EDGE.md). Every failure becomes an ApiFailure whose message
// can be shown as it is.

export const OUTPUT_FORMATS = ["png", "jpeg", "webp"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface GenerationRequest {
  readonly model?: string;
  readonly prompt: string;
  readonly negative_prompt?: string;
  readonly size: string;
  readonly seed?: number;
  readonly steps: number;
  readonly guidance_scale: number;
  readonly output_format: OutputFormat;
}

export interface ModelCapabilities {
  readonly max_width?: number;
  readonly max_height?: number;
  readonly default_steps?: number;
}

export interface Model {
  readonly id: string;
  readonly capabilities?: ModelCapabilities | null;
}

export interface Queued {
  readonly type: "sana.queued";
  /** Jobs ahead of this one. */
  readonly position: number;
  /** 0 when the sidecar cannot tell. */
  readonly estimated_wait_ms: number;
}

export interface Progress {
  readonly type: "sana.progress";
  readonly stage: string;
  readonly step: number;
  readonly total_steps: number;
  readonly elapsed_ms: number;
}

export interface PartialImage {
  readonly type: "image_generation.partial_image";
  readonly b64_json: string;
  readonly partial_image_index: number;
  readonly output_format: OutputFormat;
  readonly size: string;
}

export interface Completed {
  readonly type: "image_generation.completed";
  readonly b64_json: string;
  readonly id: string;
  readonly url: string;
  /** A string when it is beyond what a double holds exactly. */
  readonly seed: number | string;
  readonly output_format: OutputFormat;
  readonly size: string;
}

export type GenerationEvent = Queued | Progress | PartialImage | Completed;

export type FailureKind = "http" | "stream" | "network";

export class ApiFailure extends Error {
  override readonly name = "ApiFailure";
  readonly kind: FailureKind;
  /** The HTTP status; undefined for network failures and errors inside the stream. */
  readonly status: number | undefined;
  /** From Retry-After, when the edge sent one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: FailureKind, message: string, status?: number, retryAfterSeconds?: number) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** error.message of OpenAI's error body, if `body` is one. */
function errorMessage(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const { message } = body.error;
  return typeof message === "string" && message !== "" ? message : undefined;
}

/** Retry-After is either seconds or an HTTP date. */
function retryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

async function failureOf(response: Response): Promise<ApiFailure> {
  let message: string | undefined;
  try {
    message = errorMessage(await response.json());
  } catch {
    // Not JSON (a proxy's error page): the status line is all there is to say.
  }
  return new ApiFailure(
    "http",
    message ?? `The edge answered ${response.status} ${response.statusText}`.trim(),
    response.status,
    retryAfter(response.headers.get("retry-after")),
  );
}

interface SendInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

async function send(path: string, key: string, init: SendInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${key}` } });
  } catch (error) {
    if (init.signal.aborted) throw error;
    throw new ApiFailure("network", `The edge cannot be reached at ${location.origin} (${String(error)}).`);
  }
  if (!response.ok) throw await failureOf(response);
  return response;
}

export async function listModels(key: string, signal: AbortSignal): Promise<Model[]> {
  const response = await send("/v1/models", key, { signal });
  const body: unknown = await response.json();
  if (!isRecord(body) || !Array.isArray(body.data))
    throw new ApiFailure("http", "GET /v1/models: no model list");
  return body.data.filter((model): model is Model => isRecord(model) && typeof model.id === "string");
}

function parseJson(message: SseMessage): Record<string, unknown> {
  const value: unknown = JSON.parse(message.data);
  if (!isRecord(value)) throw new ApiFailure("stream", `The edge sent a malformed ${message.event} event.`);
  return value;
}

/** The event a message carries; undefined for events this page does not know (ignored, like SDKs do). */
function eventOf(message: SseMessage): GenerationEvent | undefined {
  switch (message.event) {
    case "sana.queued":
    case "sana.progress":
    case "image_generation.partial_image":
    case "image_generation.completed": {
      const data = parseJson(message);
      if (message.event.startsWith("image_") && typeof data.b64_json !== "string")
        throw new ApiFailure("stream", `The edge sent a ${message.event} event without an image.`);
      // The edge is the schema's owner (edge/src/api/image-responses.ts); only the tag is ours.
      return { ...data, type: message.event } as GenerationEvent;
    }
    case "error":
      throw new ApiFailure("stream", errorMessage(parseJson(message)) ?? "The generation failed.");
    default:
      return undefined;
  }
}

/** Starts a streamed generation of one image and yields its events up to the completed image. */
export async function* generateImage(
  key: string,
  request: GenerationRequest,
  signal: AbortSignal,
): AsyncGenerator<GenerationEvent> {
  const response = await send("/v1/images/generations", key, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ ...request, n: 1, stream: true, partial_images: 3 }),
    signal,
  });
  if (response.body === null) throw new ApiFailure("stream", "The edge answered without a body.");
  const messages = readSse(response.body);
  try {
    for (;;) {
      let next: IteratorResult<SseMessage>;
      try {
        next = await messages.next();
      } catch (error) {
        if (signal.aborted) throw error;
        throw new ApiFailure("network", `The connection to the edge was lost (${String(error)}).`);
      }
      if (next.done === true) break;
      const event = eventOf(next.value);
      if (event === undefined) continue;
      yield event;
      if (event.type === "image_generation.completed") return;
    }
  } finally {
    await messages.return(undefined);
  }
  throw new ApiFailure("stream", "The stream ended before the image was complete.");
}
