import { statSync, writeFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ProgressReporter, type ProgressSink } from "./progress.js";
import { type SseEvent, sseEvents } from "./sse.js";

// `sana generate --endpoint URL`: the same command, answered by the edge's public API instead of this
// machine's engine. It streams (POST /v1/images/generations with stream: true) so the user sees the queue
// and the steps, and so that leaving (Ctrl-C) closes the connection, which makes the edge cancel the job.

export const remoteUsage = `--endpoint URL (or SANA_ENDPOINT) generates on a SANA edge instead: --model is then a model id, the API key
comes from --api-key or SANA_API_KEY, and the server's model picks steps, guidance and sampler unless given.`;

const DEFAULT_SIDE = "512";

// The local mode's options plus the remote ones, so that one command line works in both modes.
const generateOptions = {
  endpoint: { type: "string" },
  "api-key": { type: "string" },
  model: { type: "string" },
  prompt: { type: "string" },
  output: { type: "string", short: "o", default: "out.png" },
  width: { type: "string" },
  height: { type: "string" },
  steps: { type: "string" },
  guidance: { type: "string" },
  seed: { type: "string" },
  negative: { type: "string" },
  sampler: { type: "string" },
  "no-instruction": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

const formats = { ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp" } as const;
type OutputFormat = (typeof formats)[keyof typeof formats];

/** The JSON body sent: OpenAI's fields plus SANA's own, only those the command line set. */
export interface ImagesRequestBody {
  readonly prompt: string;
  readonly size: string;
  readonly output_format: OutputFormat;
  readonly stream: true;
  readonly model?: string;
  readonly negative_prompt?: string;
  readonly seed?: number;
  readonly steps?: number;
  readonly guidance_scale?: number;
  readonly sampler?: string;
}

export interface RemotePlan {
  /** The endpoint as given, for messages. */
  readonly endpoint: string;
  /** Where the request goes. */
  readonly url: string;
  readonly apiKey: string;
  /** Absolute path of the image to write. */
  readonly output: string;
  readonly body: ImagesRequestBody;
}

/** A command line that cannot be sent: exit 2, as for usage errors in local mode. */
export class RemoteUsageError extends Error {
  override readonly name = "RemoteUsageError";
  /** Whether the usage text helps: yes for a malformed line, no when the message says all. */
  readonly showUsage: boolean;

  constructor(message: string, showUsage = false) {
    super(message);
    this.showUsage = showUsage;
  }
}

/** Something the server or the network said, meant for the user as is: exit 1. */
export class RemoteError extends Error {
  override readonly name = "RemoteError";
}

/** Whether `args` (from "generate" on) ask for the edge rather than the local engine. */
export function isRemoteGenerate(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (args[0] !== "generate") return false;
  if (env.SANA_ENDPOINT) return true;
  const { tokens } = parseArgs({
    args: [...args],
    options: generateOptions,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  return tokens.some((token) => token.kind === "option" && token.name === "endpoint");
}

/** POST target for an endpoint given as the site root or, as OpenAI's SDKs take it, with /v1. */
export function generationsUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new RemoteUsageError(`--endpoint must be an http(s) URL, got "${endpoint}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new RemoteUsageError(`--endpoint must be an http(s) URL, got "${endpoint}"`);
  const base = url.pathname.replace(/\/+$/, "");
  url.pathname = `${base.endsWith("/v1") ? base : `${base}/v1`}/images/generations`;
  return url.href;
}

function integer(name: string, text: string, min: number): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < min)
    throw new RemoteUsageError(`--${name} must be an integer ≥ ${min}, got "${text}"`);
  return value;
}

function guidanceScale(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0)
    throw new RemoteUsageError(`--guidance must be a number ≥ 0, got "${text}"`);
  return value;
}

function outputFormat(output: string): OutputFormat {
  const extension = extname(output).toLowerCase();
  if (!Object.hasOwn(formats, extension))
    throw new RemoteUsageError(`--output must end in .png, .jpg, .jpeg or .webp: ${output}`);
  return formats[extension as keyof typeof formats];
}

/** The prompt from a lone positional or --prompt (not both), as in local mode. */
function promptOf(words: readonly string[], flag: string | undefined): string {
  const prompt = flag ?? words[0];
  if (words.length > 1 || (flag !== undefined && words.length > 0) || prompt === undefined)
    throw new RemoteUsageError("give one prompt, as an argument or with --prompt", true);
  return prompt;
}

/**
 * The request `args` (after "generate") describe, with the endpoint and key from `env` when not given;
 * undefined for --help. Ranges (size multiples, step limits, samplers) are left to the server, which knows
 * the model and names the offending field.
 */
export function parseRemoteArgs(args: readonly string[], env: NodeJS.ProcessEnv): RemotePlan | undefined {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: generateOptions,
    allowPositionals: true,
  });
  if (values.help) return undefined;
  const prompt = promptOf(positionals, values.prompt);
  if (values["no-instruction"])
    throw new RemoteUsageError("--no-instruction works only locally: the API has no field for it");
  const endpoint = values.endpoint ?? env.SANA_ENDPOINT ?? "";
  const url = generationsUrl(endpoint);
  const apiKey = values["api-key"] ?? env.SANA_API_KEY ?? "";
  if (apiKey === "")
    throw new RemoteUsageError(`${endpoint} needs an API key: pass --api-key KEY or set SANA_API_KEY`);
  const output = resolve(values.output);
  const width = integer("width", values.width ?? DEFAULT_SIDE, 1);
  const height = integer("height", values.height ?? DEFAULT_SIDE, 1);
  const body: ImagesRequestBody = {
    prompt,
    size: `${width}x${height}`,
    output_format: outputFormat(output),
    stream: true,
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(values.negative === undefined ? {} : { negative_prompt: values.negative }),
    ...(values.seed === undefined ? {} : { seed: integer("seed", values.seed, 0) }),
    ...(values.steps === undefined ? {} : { steps: integer("steps", values.steps, 1) }),
    ...(values.guidance === undefined ? {} : { guidance_scale: guidanceScale(values.guidance) }),
    ...(values.sampler === undefined ? {} : { sampler: values.sampler }),
  };
  return { endpoint, url, apiKey, output, body };
}

/** The fetch options for `plan`; `signal` aborting closes the connection. */
export function requestInit(plan: RemotePlan, signal: AbortSignal): RequestInit {
  return {
    method: "POST",
    headers: {
      authorization: `Bearer ${plan.apiKey}`,
      "content-type": "application/json",
      accept: "text/event-stream",
    },
    body: JSON.stringify(plan.body),
    signal,
  };
}

type JsonObject = Readonly<Record<string, unknown>>;

function jsonObject(value: unknown): JsonObject | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** `error.message` of OpenAI's error body, if `value` is one. */
export function apiErrorMessage(value: unknown): string | undefined {
  const message = jsonObject(jsonObject(value)?.error)?.message;
  return typeof message === "string" && message !== "" ? message : undefined;
}

/** Seconds from Retry-After (a number or an HTTP date), only where the API sends it. */
function retryAfterSeconds(response: Response): number | undefined {
  if (response.status !== 429 && response.status !== 503) return undefined;
  const header = response.headers.get("retry-after")?.trim();
  if (header === undefined || header === "") return undefined;
  const seconds = /^\d+$/.test(header) ? Number(header) : Math.ceil((Date.parse(header) - Date.now()) / 1000);
  return Number.isFinite(seconds) ? Math.max(0, seconds) : undefined;
}

/** The error an HTTP refusal (before any event) stands for, in the server's words. */
export async function httpError(response: Response): Promise<RemoteError> {
  const text = await response.text().catch(() => "");
  let message: string | undefined;
  try {
    message = apiErrorMessage(JSON.parse(text));
  } catch {
    // Not JSON: a proxy's page, say; the status line says more than its HTML would.
  }
  message ??= `HTTP ${response.status} ${response.statusText}`.trim();
  const retry = retryAfterSeconds(response);
  return new RemoteError(retry === undefined ? message : `${message} (retry after ${retry} s)`);
}

/** The innermost reason a fetch failed (ECONNREFUSED, ENOTFOUND, ...), for a one-line message. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string")
    return cause.code;
  if (cause instanceof Error && cause.message !== "") return cause.message;
  return error instanceof Error ? error.message : String(error);
}

export interface CompletedImage {
  readonly bytes: Buffer;
  /** "WxH" as the server reports it. */
  readonly size: string;
  readonly seed: string;
}

function eventJson(event: SseEvent): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(event.data);
  } catch {
    throw new RemoteError(`the server sent a malformed ${event.event} event`);
  }
  const object = jsonObject(value);
  if (object === undefined) throw new RemoteError(`the server sent a malformed ${event.event} event`);
  return object;
}

const numberOr = (value: unknown, fallback: number) => (typeof value === "number" ? value : fallback);

function completedImage(data: JsonObject): CompletedImage {
  const { b64_json: b64, size, seed } = data;
  if (typeof b64 !== "string" || b64 === "")
    throw new RemoteError("the server's completed event carries no image");
  return {
    bytes: Buffer.from(b64, "base64"),
    size: typeof size === "string" ? size : "size unknown",
    seed: typeof seed === "number" || typeof seed === "string" ? String(seed) : "unknown",
  };
}

/** Shows or acts on one event; returns the image once it is complete. */
function onEvent(event: SseEvent, progress: ProgressReporter): CompletedImage | undefined {
  switch (event.event) {
    case "sana.queued": {
      const data = eventJson(event);
      progress.queued(numberOr(data.position, 0), numberOr(data.estimated_wait_ms, 0));
      return undefined;
    }
    case "sana.progress": {
      const data = eventJson(event);
      const stage = typeof data.stage === "string" ? data.stage : "working";
      progress.step(stage, numberOr(data.step, 0), numberOr(data.total_steps, 0));
      return undefined;
    }
    case "image_generation.completed":
      return completedImage(eventJson(event));
    case "error":
      throw new RemoteError(apiErrorMessage(eventJson(event)) ?? "the server reported an error");
    default:
      // Partial images (not asked for) and events a newer server may add.
      return undefined;
  }
}

async function readStream(
  body: ReadableStream<Uint8Array>,
  plan: RemotePlan,
  progress: ProgressReporter,
): Promise<CompletedImage> {
  try {
    for await (const event of sseEvents(body)) {
      const image = onEvent(event, progress);
      if (image !== undefined) return image;
    }
  } catch (error) {
    if (error instanceof RemoteError) throw error;
    throw new RemoteError(`the connection to ${plan.endpoint} broke: ${reasonOf(error)}`);
  }
  throw new RemoteError(`the stream from ${plan.endpoint} ended before the image was complete`);
}

async function post(plan: RemotePlan, signal: AbortSignal, fetcher: typeof fetch): Promise<Response> {
  try {
    return await fetcher(plan.url, requestInit(plan, signal));
  } catch (error) {
    if (signal.aborted) throw error;
    throw new RemoteError(`cannot reach ${plan.endpoint}: ${reasonOf(error)}`);
  }
}

/** Sends the request and follows its events to the finished image. */
export async function fetchImage(
  plan: RemotePlan,
  signal: AbortSignal,
  progress: ProgressReporter,
  fetcher: typeof fetch = fetch,
): Promise<CompletedImage> {
  const response = await post(plan, signal, fetcher);
  if (!response.ok) throw await httpError(response);
  const type = response.headers.get("content-type") ?? "";
  if (response.body === null || !type.startsWith("text/event-stream")) {
    await response.body?.cancel();
    throw new RemoteError(`${plan.endpoint} answered ${type || "no content type"}, not an event stream`);
  }
  return readStream(response.body, plan, progress);
}

/** Fails before the request when the image could not be written, rather than after the GPU's work. */
function checkOutputDir(output: string): void {
  const dir = dirname(output);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new RemoteUsageError(`--output's folder does not exist: ${dir}`);
}

export interface RemoteIo {
  readonly stderr: ProgressSink;
  readonly fetch?: typeof fetch;
}

async function run(plan: RemotePlan, io: RemoteIo, signal: AbortSignal): Promise<number> {
  const progress = new ProgressReporter(io.stderr);
  try {
    const image = await fetchImage(plan, signal, progress, io.fetch);
    progress.finish();
    writeFileSync(plan.output, image.bytes);
    io.stderr.write(`wrote ${plan.output} (${image.size}, seed ${image.seed})\n`);
    return 0;
  } catch (error) {
    progress.finish();
    if (signal.aborted) {
      io.stderr.write("sana: interrupted\n");
      return 130;
    }
    io.stderr.write(`sana: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/**
 * `sana generate ... --endpoint URL` with `args` after "generate"; resolves to the exit code: 0 written,
 * 1 refused or failed, 2 a bad command line, 130 interrupted. `usage` is printed for --help and misuse.
 */
export async function generateRemote(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  usage: string,
  io: RemoteIo = { stderr: process.stderr },
): Promise<number> {
  let plan: RemotePlan | undefined;
  try {
    plan = parseRemoteArgs(args, env);
    if (plan !== undefined) checkOutputDir(plan.output);
  } catch (error) {
    // parseArgs's own errors (unknown option, missing value) are usage errors too.
    const showUsage = !(error instanceof RemoteUsageError) || error.showUsage;
    io.stderr.write(`sana: ${error instanceof Error ? error.message : String(error)}\n`);
    if (showUsage) io.stderr.write(`${usage}\n`);
    return 2;
  }
  if (plan === undefined) {
    io.stderr.write(`${usage}\n`);
    return 0;
  }
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once("SIGINT", interrupt);
  try {
    return await run(plan, io, controller.signal);
  } finally {
    process.off("SIGINT", interrupt);
  }
}
