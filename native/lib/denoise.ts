import { native } from "./index.js";

// The denoising loop (src/node/denoise_binding.cpp): prompt embeddings in, the latents the
// VAE decodes out, with a report after every step and cancellation between steps.

/** Text-encoder output: (batch, tokens, captionChannels) embeddings and a 0/1 mask (batch, tokens). */
export interface PromptEmbeddings {
  embeds: Float32Array;
  mask: Float32Array;
  /** 1 (shared by every image) or the number of images. */
  batch: number;
  tokens: number;
}

export type SamplerName = "flow_dpm_solver" | "flow_euler" | "scm";

export interface DenoiseRequest {
  /** Images to generate. */
  batch: number;
  /** Latent rows and columns: image size / 32. */
  height: number;
  width: number;
  steps: number;
  /** > 1 runs classifier-free guidance (needs `negative`); Sprint models embed it instead. */
  guidanceScale: number;
  prompt: PromptEmbeddings;
  negative?: PromptEmbeddings;
  /** Initial Gaussian latents (batch, C, height, width); absent: drawn from `seed`. */
  latents?: Float32Array;
  seed?: number | bigint;
  /** Sprint's per-step noise (steps, batch, C, height, width); absent: drawn from `seed`. */
  stepNoise?: Float32Array;
  /** > 0 runs perturbed-attention guidance on `pagLayers` (transformer block indices). */
  pagScale?: number;
  pagLayers?: number[];
  /** > 0: the PAG scale decays with the timestep, as diffusers' PAGMixin does. */
  pagAdaptiveScale?: number;
  /** Absent: the model's own scheduler (scheduler/scheduler_config.json). */
  sampler?: SamplerName;
  /** A diffusers scheduler config to sample with instead of the model's own. */
  schedulerConfig?: Record<string, unknown>;
  /** Sprint's schedule: the first angle, and the middle one of a 2-step run (null: none). */
  maxTimesteps?: number;
  intermediateTimesteps?: number | null;
  /** Report the raw transformer batch of every step (for checks against the reference). */
  captureModelOutput?: boolean;
}

export interface DenoiseStep {
  /** 0-based index of the step just taken. */
  step: number;
  total: number;
  /** The timestep the transformer was given at this step. */
  timestep: number;
  /** Latents after the step, (batch, C, height, width). */
  latents: Float32Array;
  /** The sampler's prediction of the clean latents at this step (for previews). */
  denoised: Float32Array;
  /** The transformer's raw output (model batch, C, height, width), with captureModelOutput. */
  modelOutput?: Float32Array;
}

export interface DenoiseResult {
  /** What the VAE decodes (before dividing by its scaling factor); empty when cancelled. */
  latents: Float32Array;
  shape: [number, number, number, number];
  stepsCompleted: number;
  cancelled: boolean;
}

export interface Denoiser {
  readonly root: string;
  readonly latentChannels: number;
  readonly numLayers: number;
  readonly captionChannels: number;
  readonly guidanceEmbeds: boolean;
  /** One run at a time per denoiser: a second concurrent run is rejected. */
  run(request: DenoiseRequest, onStep?: (step: DenoiseStep) => void): Promise<DenoiseResult>;
  /** Stops the run in flight before its next step; it resolves with `cancelled: true`. */
  cancel(): void;
}

/** The addon's request: the scheduler config travels as JSON text. */
type NativeDenoiseRequest = Omit<DenoiseRequest, "schedulerConfig"> & { schedulerConfig?: string };

interface NativeDenoiser extends Omit<Denoiser, "run"> {
  run(request: NativeDenoiseRequest, onStep?: (step: DenoiseStep) => void): Promise<DenoiseResult>;
}

interface DenoiseBinding {
  loadDenoiser(modelDir: string, options?: { backend?: string }): Promise<NativeDenoiser>;
}

function isDenoiseBinding(value: unknown): value is DenoiseBinding {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).loadDenoiser === "function"
  );
}

/** Loads the transformer of a pipeline folder, off the JS thread. */
export async function loadDenoiser(modelDir: string, options?: { backend?: string }): Promise<Denoiser> {
  const addon: unknown = native;
  if (!isDenoiseBinding(addon)) {
    throw new Error(
      "the loaded sana_native addon has no denoise binding (rebuild it: npm run build -w native)",
    );
  }
  const engine = await addon.loadDenoiser(modelDir, options);
  return {
    root: engine.root,
    latentChannels: engine.latentChannels,
    numLayers: engine.numLayers,
    captionChannels: engine.captionChannels,
    guidanceEmbeds: engine.guidanceEmbeds,
    run: ({ schedulerConfig, ...rest }, onStep) =>
      engine.run(
        schedulerConfig === undefined ? rest : { ...rest, schedulerConfig: JSON.stringify(schedulerConfig) },
        onStep,
      ),
    cancel: () => engine.cancel(),
  };
}

/** Runs `request`, cancelling the engine when `signal` aborts (it stops before its next step). */
export async function denoiseWithSignal(
  denoiser: Denoiser,
  request: DenoiseRequest,
  signal: AbortSignal,
  onStep?: (step: DenoiseStep) => void,
): Promise<DenoiseResult> {
  signal.throwIfAborted();
  const run = denoiser.run(request, onStep);
  const abort = () => denoiser.cancel();
  signal.addEventListener("abort", abort, { once: true });
  try {
    return await run;
  } finally {
    signal.removeEventListener("abort", abort);
  }
}
