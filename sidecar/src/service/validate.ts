import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { binResolution, type SamplerName } from "@sana-edge/native";
import {
  type ConcreteImageFormat,
  type GenerateRequest,
  type ModelInfo,
  PreviewFormat,
  resolveImageFormat,
  Sampler,
  samplerName,
} from "@sana-edge/proto";

// GenerateRequest → JobSpec: the model's defaults applied and every field checked, so the
// queue and the engine only ever see requests they can run. Errors name the field.

/** Longest prompt or negative prompt, in characters; Gemma sees at most 300 tokens anyway. */
export const MAX_PROMPT_CHARS = 4000;
export const MAX_GUIDANCE_SCALE = 30;
export const MAX_PAG_SCALE = 30;
export const MAX_CLIENT_REQUEST_ID_CHARS = 128;
/** Previews are a progress cue, not a second image: small and cheap to encode. */
export const DEFAULT_PREVIEW_MAX_SIZE = 256;
export const MAX_PREVIEW_MAX_SIZE = 512;
export const MIN_PREVIEW_MAX_SIZE = 16;
export const DEFAULT_QUALITY = 90;

export interface PixelSize {
  readonly width: number;
  readonly height: number;
}

/** Everything a job runs with, defaults applied. */
export interface JobSpec {
  readonly model: ModelInfo;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: bigint;
  /** The size the caller gets. */
  readonly output: PixelSize;
  /** The size the engine generates at: the aspect-ratio bin with resolution binning, else `output`. */
  readonly generation: PixelSize;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly sampler: Sampler;
  readonly pagScale: number;
  readonly useComplexHumanInstruction: boolean;
  readonly outputFormat: ConcreteImageFormat;
  /** 1..100 for JPEG and WebP. */
  readonly outputQuality: number;
  /** 0: no previews. */
  readonly previewInterval: number;
  readonly previewFormat: PreviewFormat.JPEG | PreviewFormat.WEBP;
  readonly previewMaxSize: number;
  readonly clientRequestId: string;
}

/** The engine's name for a (resolved) sampler. */
export function engineSampler(sampler: Sampler): SamplerName {
  const name = samplerName(sampler);
  if (name === undefined) throw new RangeError(`sampler ${sampler} has no engine name`);
  return name;
}

function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

function pickModel(models: readonly ModelInfo[], id: string): ModelInfo {
  const [first] = models;
  if (first === undefined) throw new ConnectError("this sidecar serves no models", Code.Unavailable);
  if (id === "") return first;
  const model = models.find((m) => m.id === id);
  if (model === undefined) {
    throw invalid(
      "model",
      `unknown model "${id}"; this sidecar serves ${models.map((m) => m.id).join(", ")}`,
    );
  }
  return model;
}

function checkText(field: string, text: string, required: boolean): string {
  if (required && text.trim() === "") throw invalid(field, "must not be empty");
  if (text.length > MAX_PROMPT_CHARS) {
    throw invalid(field, `is ${text.length} characters long; the limit is ${MAX_PROMPT_CHARS}`);
  }
  return text;
}

function checkSide(field: string, value: number, model: ModelInfo, max: number): number {
  const caps = model.capabilities;
  const multiple = caps?.resolutionMultiple ?? 32;
  const side = value === 0 ? (caps?.nativeResolution ?? 0) : value;
  if (side % multiple !== 0) throw invalid(field, `${side} is not a multiple of ${multiple}`);
  if (side < multiple || side > max) {
    throw invalid(field, `${side} is out of range; ${model.id} accepts ${multiple}..${max}`);
  }
  return side;
}

function checkSteps(value: number, model: ModelInfo): number {
  const caps = model.capabilities;
  const steps = value === 0 ? (caps?.defaultSteps ?? 0) : value;
  const max = caps?.maxSteps ?? 0;
  if (steps < 1 || steps > max)
    throw invalid("steps", `${steps} is out of range; ${model.id} runs 1..${max}`);
  return steps;
}

function checkScale(field: string, value: number, max: number): number {
  if (!Number.isFinite(value) || value < 0 || value > max) {
    throw invalid(field, `${value} is out of range 0..${max}`);
  }
  return value;
}

function checkSampler(value: Sampler, model: ModelInfo): Sampler {
  const caps = model.capabilities;
  const sampler = value === Sampler.UNSPECIFIED ? (caps?.defaultSampler ?? Sampler.UNSPECIFIED) : value;
  if (samplerName(sampler) === undefined || !(caps?.samplers ?? []).includes(sampler)) {
    const names = (caps?.samplers ?? []).map((s) => Sampler[s]).join(", ");
    throw invalid(
      "sampler",
      `${Sampler[sampler] ?? String(value)} is not available for ${model.id}; use ${names}`,
    );
  }
  return sampler;
}

function checkOutputFormat(request: GenerateRequest, model: ModelInfo): ConcreteImageFormat {
  let format: ConcreteImageFormat;
  try {
    format = resolveImageFormat(request.outputFormat);
  } catch {
    throw invalid("output_format", `unknown value ${request.outputFormat}`);
  }
  if (!(model.capabilities?.outputFormats ?? []).includes(format)) {
    throw invalid("output_format", `this host cannot encode ${request.outputFormat}`);
  }
  return format;
}

function checkQuality(value: number): number {
  if (value === 0) return DEFAULT_QUALITY;
  if (value > 100) throw invalid("output_quality", `${value} is out of range 1..100`);
  return value;
}

function checkPreviewFormat(value: PreviewFormat): PreviewFormat.JPEG | PreviewFormat.WEBP {
  switch (value) {
    case PreviewFormat.UNSPECIFIED:
    case PreviewFormat.JPEG:
      return PreviewFormat.JPEG;
    case PreviewFormat.WEBP:
      return PreviewFormat.WEBP;
    default:
      throw invalid("preview_format", `unknown value ${value}`);
  }
}

function checkPreviewInterval(value: number, steps: number): number {
  if (value > steps)
    throw invalid("preview_interval", `${value} is more than the ${steps} steps of this job`);
  return value;
}

function checkPreviewMaxSize(value: number): number {
  if (value === 0) return DEFAULT_PREVIEW_MAX_SIZE;
  if (value < MIN_PREVIEW_MAX_SIZE || value > MAX_PREVIEW_MAX_SIZE) {
    throw invalid(
      "preview_max_size",
      `${value} is out of range ${MIN_PREVIEW_MAX_SIZE}..${MAX_PREVIEW_MAX_SIZE}`,
    );
  }
  return value;
}

function checkPag(value: number | undefined, model: ModelInfo): number {
  const scale = checkScale("pag_scale", value ?? 0, MAX_PAG_SCALE);
  if (scale > 0 && model.capabilities?.supportsPag !== true) {
    throw invalid("pag_scale", `${model.id} does not support perturbed-attention guidance`);
  }
  return scale;
}

/** A seed torch treats as distinct: it only uses the low 32 bits. */
function randomSeed(): bigint {
  return BigInt(randomBytes(4).readUInt32BE(0));
}

function generationSize(output: PixelSize, model: ModelInfo, binning: boolean): PixelSize {
  const sampleSize =
    (model.capabilities?.nativeResolution ?? 0) / (model.capabilities?.resolutionMultiple ?? 32);
  if (!binning) return output;
  const bin = binResolution(sampleSize, output.height, output.width);
  return { width: bin.width, height: bin.height };
}

/** Validates `request` against the served models; throws ConnectError INVALID_ARGUMENT naming the field. */
export function validateGenerateRequest(request: GenerateRequest, models: readonly ModelInfo[]): JobSpec {
  const model = pickModel(models, request.model);
  const caps = model.capabilities;
  const prompt = checkText("prompt", request.prompt, true);
  const negativePrompt = checkText("negative_prompt", request.negativePrompt, false);
  const output = {
    width: checkSide("width", request.width, model, caps?.maxWidth ?? 0),
    height: checkSide("height", request.height, model, caps?.maxHeight ?? 0),
  };
  const steps = checkSteps(request.steps, model);
  if (request.clientRequestId.length > MAX_CLIENT_REQUEST_ID_CHARS) {
    throw invalid("client_request_id", `is longer than ${MAX_CLIENT_REQUEST_ID_CHARS} characters`);
  }
  return {
    model,
    prompt,
    negativePrompt,
    seed: request.seed ?? randomSeed(),
    output,
    generation: generationSize(output, model, request.useResolutionBinning ?? true),
    steps,
    guidanceScale: checkScale(
      "guidance_scale",
      request.guidanceScale ?? caps?.defaultGuidanceScale ?? 1,
      MAX_GUIDANCE_SCALE,
    ),
    sampler: checkSampler(request.sampler, model),
    pagScale: checkPag(request.pagScale, model),
    useComplexHumanInstruction: request.useComplexHumanInstruction ?? true,
    outputFormat: checkOutputFormat(request, model),
    outputQuality: checkQuality(request.outputQuality),
    previewInterval: checkPreviewInterval(request.previewInterval, steps),
    previewFormat: checkPreviewFormat(request.previewFormat),
    previewMaxSize: checkPreviewMaxSize(request.previewMaxSize),
    clientRequestId: request.clientRequestId,
  };
}

/** Jobs with equal keys can run as one engine batch. */
export function batchKey(spec: JobSpec): string {
  const { model, generation, steps, sampler, guidanceScale, pagScale } = spec;
  return `${model.id}|${generation.width}x${generation.height}|${steps}|${sampler}|${guidanceScale}|${pagScale}`;
}
