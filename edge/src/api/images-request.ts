// The body of POST /v1/images/generations: OpenAI's Images API fields plus SANA's own, validated once at the
// door so everything behind it works with a typed, defaulted ImagesRequest.
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type GenerateRequestSchema,
  ImageFormat,
  type ImageFormatName,
  SAMPLER_NAMES,
  Sampler,
  type SamplerName,
  samplerOfName,
} from "@sana-edge/proto";
import { z } from "zod";
import { type ApiError, invalidRequest, payloadTooLarge } from "./errors.js";

/** Bodies beyond this are refused before parsing; a maximal valid request is about 8 KiB. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;
export const MAX_PROMPT_CHARS = 4000;
export const MAX_IMAGES = 4;
export const MAX_PARTIAL_IMAGES = 3;
export const MAX_STEPS = 100;
export const MAX_GUIDANCE_SCALE = 30;
/** Width and height are multiples of the DC-AE compression factor. */
export const SIZE_MULTIPLE = 32;
export const MAX_SIDE = 4096;
export const DEFAULT_SIZE = "1024x1024";

export const OUTPUT_FORMATS = ["png", "jpeg", "webp"] as const satisfies readonly ImageFormatName[];
export const RESPONSE_FORMATS = ["b64_json", "url"] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

/** A validated request with the API's defaults applied; `undefined` leaves the choice to the model. */
export interface ImagesRequest {
  /** undefined: the pool's first model. */
  readonly model: string | undefined;
  /** Exactly as sent (it is part of the cache key); never blank. */
  readonly prompt: string;
  readonly n: number;
  /** undefined: "auto", the model's native resolution. */
  readonly size: ImageSize | undefined;
  readonly output_format: ImageFormatName;
  /** 0..100, higher is better; only meaningful for jpeg and webp. */
  readonly output_compression: number | undefined;
  readonly response_format: ResponseFormat;
  readonly stream: boolean;
  readonly partial_images: number;
  readonly negative_prompt: string | undefined;
  /** undefined: the sidecar draws one, and the result cannot be cached. */
  readonly seed: number | undefined;
  readonly steps: number | undefined;
  readonly guidance_scale: number | undefined;
  readonly sampler: SamplerName | undefined;
}

const SIZE_PATTERN = /^(\d{1,5})x(\d{1,5})$/;

function parseSize(size: string): ImageSize | undefined {
  const match = SIZE_PATTERN.exec(size);
  if (!match) return undefined;
  const width = Number(match[1]);
  const height = Number(match[2]);
  return isValidSide(width) && isValidSide(height) ? { width, height } : undefined;
}

function isValidSide(side: number): boolean {
  return side >= SIZE_MULTIPLE && side <= MAX_SIDE && side % SIZE_MULTIPLE === 0;
}

const sizeSchema = z
  .string()
  .refine((size) => size === "auto" || parseSize(size) !== undefined)
  .transform((size) => (size === "auto" ? undefined : parseSize(size)));

// Unknown keys are stripped, not refused: the OpenAI SDKs add fields over time (quality, background,
// moderation, style, user, ...) and a client upgrade must not break against this server.
const requestShape = {
  model: z.string().min(1).optional(),
  prompt: z
    .string()
    .max(MAX_PROMPT_CHARS)
    .refine((prompt) => prompt.trim().length > 0),
  n: z.int().min(1).max(MAX_IMAGES).default(1),
  size: sizeSchema.prefault(DEFAULT_SIZE),
  output_format: z.enum(OUTPUT_FORMATS).default("png"),
  output_compression: z.int().min(0).max(100).optional(),
  response_format: z.enum(RESPONSE_FORMATS).default("b64_json"),
  stream: z.boolean().default(false),
  partial_images: z.int().min(0).max(MAX_PARTIAL_IMAGES).default(0),
  negative_prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
  seed: z.int().min(0).optional(),
  steps: z.int().min(1).max(MAX_STEPS).optional(),
  guidance_scale: z.number().min(0).max(MAX_GUIDANCE_SCALE).optional(),
  sampler: z.enum(SAMPLER_NAMES).optional(),
};
const requestSchema = z.object(requestShape);

const quoted = (values: readonly string[]) => values.map((value) => `"${value}"`).join(", ");

// One sentence per field, whatever check failed: clients need the rule, not zod's internals.
const EXPECTATIONS: Record<keyof typeof requestShape, string> = {
  model: "a non-empty model id (see GET /v1/models)",
  prompt: `a non-blank string of at most ${MAX_PROMPT_CHARS} characters`,
  n: `an integer from 1 to ${MAX_IMAGES}`,
  size: `"auto" or "WIDTHxHEIGHT" with each side a multiple of ${SIZE_MULTIPLE} from ${SIZE_MULTIPLE} to ${MAX_SIDE}, e.g. "${DEFAULT_SIZE}"`,
  output_format: `one of ${quoted(OUTPUT_FORMATS)}`,
  output_compression: "an integer from 0 to 100",
  response_format: `one of ${quoted(RESPONSE_FORMATS)}`,
  stream: "a boolean",
  partial_images: `an integer from 0 to ${MAX_PARTIAL_IMAGES}`,
  negative_prompt: `a string of at most ${MAX_PROMPT_CHARS} characters`,
  seed: `a non-negative integer up to ${Number.MAX_SAFE_INTEGER}`,
  steps: `an integer from 1 to ${MAX_STEPS}`,
  guidance_scale: `a number from 0 to ${MAX_GUIDANCE_SCALE}`,
  sampler: `one of ${quoted(SAMPLER_NAMES)}`,
};

function isField(key: PropertyKey | undefined): key is keyof typeof requestShape {
  return typeof key === "string" && Object.hasOwn(requestShape, key);
}

/** Validates a parsed JSON body; throws ApiError 400 naming the first offending field. */
export function parseImagesRequest(body: unknown): ImagesRequest {
  if (!isJsonObject(body)) throw notAnObject();
  // The OpenAI SDKs send null for "not set", so null means absent for every field.
  const present = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
  const result = requestSchema.safeParse(present);
  if (!result.success) throw issueError(result.error.issues[0]?.path[0], present);
  const data = result.data;
  return {
    model: data.model,
    prompt: data.prompt,
    n: data.n,
    size: data.size,
    output_format: data.output_format,
    output_compression: data.output_compression,
    response_format: data.response_format,
    stream: data.stream,
    partial_images: data.partial_images,
    negative_prompt: data.negative_prompt,
    seed: data.seed,
    steps: data.steps,
    guidance_scale: data.guidance_scale,
    sampler: data.sampler,
  };
}

function issueError(key: PropertyKey | undefined, body: Record<string, unknown>): ApiError {
  if (!isField(key)) return invalidRequest(null, "The request body is invalid.", "invalid_value");
  if (body[key] === undefined) {
    return invalidRequest(key, `Missing required parameter: '${key}'.`, "missing_required_parameter");
  }
  const message = `Invalid '${key}': expected ${EXPECTATIONS[key]}, got ${describeValue(body[key])}.`;
  return invalidRequest(key, message, "invalid_value");
}

// Echoes short values to help the client, but never a whole 4000-character prompt back.
function describeValue(value: unknown): string {
  if (typeof value === "string" && value.length > 40) return `a string of ${value.length} characters`;
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return JSON.stringify(value) ?? typeof value;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function notAnObject(): ApiError {
  return invalidRequest(null, "The request body must be a JSON object.", "invalid_json");
}

/**
 * Reads and parses a JSON object body, refusing with 413 anything over `maxBytes` (by Content-Length up
 * front, and by the bytes actually read, since a chunked body has no length) and with 400 anything that is
 * not UTF-8 JSON describing an object.
 */
export async function parseJsonBody(
  request: Request,
  maxBytes = MAX_JSON_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = await readAtMost(request.body, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw invalidRequest(null, "The request body is not valid JSON.", "invalid_json");
  }
  if (!isJsonObject(value)) throw notAnObject();
  return value;
}

function tooLarge(maxBytes: number): ApiError {
  return payloadTooLarge(`The request body exceeds the limit of ${maxBytes} bytes.`);
}

async function readAtMost(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

const IMAGE_FORMATS: Record<ImageFormatName, ImageFormat> = {
  png: ImageFormat.PNG,
  jpeg: ImageFormat.JPEG,
  webp: ImageFormat.WEBP,
};

/** The proto enum value of an output format name. */
export function imageFormatEnum(name: ImageFormatName): ImageFormat {
  return IMAGE_FORMATS[name];
}

export function isLossyFormat(format: ImageFormatName): boolean {
  return format !== "png";
}

/**
 * The proto's output_quality for a request: output_compression for lossy formats, where 0 is raised to 1
 * because 0 means "the sidecar's default" on the wire; 0 (default) when unset or for PNG.
 */
export function outputQuality(req: ImagesRequest): number {
  if (!isLossyFormat(req.output_format) || req.output_compression === undefined) return 0;
  return Math.max(1, req.output_compression);
}

/**
 * The smallest preview interval that yields at most `partialImages` previews before the last of `steps`
 * steps: previews land on multiples of the interval, and one on the last step would only duplicate the
 * final image. 0 (no previews) when none are wanted or there is no step before the last.
 */
export function previewInterval(partialImages: number, steps: number): number {
  if (partialImages <= 0 || steps <= 1) return 0;
  return Math.floor((steps - 1) / (partialImages + 1)) + 1;
}

export interface GenerateRequestOptions {
  /** The model's default_steps, which spaces the previews when the request leaves steps unset. */
  readonly defaultSteps: number;
  /** The model to ask for, once routing resolved it; defaults to the request's (empty: the sidecar's first). */
  readonly model?: string;
  /** Echoed by the sidecar in its logs so one request can be followed across both. */
  readonly clientRequestId?: string;
}

/**
 * The sana.v1.GenerateRequest init for image `index` (0-based) of the request's n images. Each image gets
 * seed + index, so an n-image request equals n one-image requests with consecutive seeds (and shares their
 * cache entries). Previews are only asked for when they can be streamed.
 */
export function toGenerateRequestInit(
  req: ImagesRequest,
  index: number,
  options: GenerateRequestOptions,
): MessageInitShape<typeof GenerateRequestSchema> {
  const partialImages = req.stream ? req.partial_images : 0;
  return {
    model: options.model ?? req.model ?? "",
    prompt: req.prompt,
    negativePrompt: req.negative_prompt ?? "",
    width: req.size?.width ?? 0,
    height: req.size?.height ?? 0,
    steps: req.steps ?? 0,
    ...(req.guidance_scale === undefined ? {} : { guidanceScale: req.guidance_scale }),
    ...(req.seed === undefined ? {} : { seed: BigInt(req.seed) + BigInt(index) }),
    sampler: req.sampler === undefined ? Sampler.UNSPECIFIED : samplerOfName(req.sampler),
    outputFormat: imageFormatEnum(req.output_format),
    outputQuality: outputQuality(req),
    previewInterval: previewInterval(partialImages, req.steps ?? options.defaultSteps),
    clientRequestId: options.clientRequestId ?? "",
  };
}
