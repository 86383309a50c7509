import { native } from "./index.js";
import type { JsonValue } from "./types.js";

// Samplers (diffusers schedulers) and guidance from src/node/sampler_binding.cpp. The
// engine's denoising loop uses the C++ API; these bindings serve the golden runner, tests and
// tools that drive a sampler step by step from JS.

/** Flow-DPM-Solver (SANA's default), Flow-Euler, and SCM (Sana-Sprint, TrigFlow). */
export type SamplerKind = "flow_dpm_solver" | "flow_euler" | "scm";

export interface SamplerSpec {
  /** Which sampler; "auto" (the default) takes the one the scheduler config describes. */
  kind?: SamplerKind | "auto";
  /** A diffusers scheduler config (object or JSON text)... */
  config?: JsonValue;
  /** ...or a diffusers model folder: scheduler/scheduler_config.json + transformer timestep_scale. */
  modelPath?: string;
  steps: number;
  /** Overrides the transformer's timestep_scale (SanaPipeline multiplies timesteps by it). */
  timestepScale?: number;
  /** SCM: the first angle (default 1.5708). */
  maxTimesteps?: number;
  /** SCM: the middle angle of a 2-step schedule (default 1.3); null = linspace. */
  intermediateTimesteps?: number | null;
}

export interface Sampler {
  readonly kind: SamplerKind;
  readonly numSteps: number;
  /** SCM: step() needs standard-normal noise of the sample's size. */
  readonly needsNoise: boolean;
  /** Factor the pipeline applies to the initial latents (SCM: sigma_data). */
  readonly initialLatentScale: number;
  stepIndex(): number;
  /** scheduler.timesteps: BigInt64Array for DPM-Solver, Float32Array otherwise (SCM: steps + 1 angles). */
  timesteps(): BigInt64Array | Float32Array;
  /** scheduler.sigmas (steps + 1, ending at 0); empty for SCM. */
  sigmas(): Float32Array;
  /** The timestep the pipeline passes to the transformer at `step`. */
  transformerTimestep(step: number): number;
  /** The transformer input for `latents` (SCM scales them; flows return a copy). */
  modelInput(step: number, latents: Float32Array): Float32Array;
  /** The pipeline's conversion of the guided transformer output into step()'s input. */
  modelOutputToStepInput(step: number, modelInput: Float32Array, modelOutput: Float32Array): Float32Array;
  /** One scheduler.step(); returns prev_sample and leaves `sample` untouched. */
  step(modelOutput: Float32Array, sample: Float32Array, noise?: Float32Array): Float32Array;
  /** The x0 prediction of the last step (SCM: pred_x0). */
  denoised(): Float32Array;
  /** What the VAE decodes after the last step (SCM: denoised / sigma_data). */
  finalLatents(sample: Float32Array): Float32Array;
  reset(): void;
}

export interface SamplerBinding {
  createSampler(spec: SamplerSpec): Sampler;
  /** uncond + g (cond - uncond) over a model batch cat([uncond, cond]). */
  cfgCombine(modelOutput: Float32Array, guidanceScale: number): Float32Array;
  /** uncond + g (cond - uncond) + pag (cond - perturbed) over cat([uncond, cond, perturbed]). */
  cfgPagCombine(modelOutput: Float32Array, guidanceScale: number, pagScale: number): Float32Array;
  /** cond + pag (cond - perturbed) over cat([cond, perturbed]). */
  pagCombine(modelOutput: Float32Array, pagScale: number): Float32Array;
  /** Sana-Sprint's guidance input: float32(guidance_scale) * guidance_embeds_scale. */
  embeddedGuidance(guidanceScale: number, guidanceEmbedsScale: number): number;
}

function isSamplerBinding(value: unknown): value is SamplerBinding {
  if (typeof value !== "object" || value === null) return false;
  const fns = ["createSampler", "cfgCombine", "cfgPagCombine", "pagCombine", "embeddedGuidance"];
  return fns.every((name) => typeof (value as Record<string, unknown>)[name] === "function");
}

/** The addon's sampler functions; throws when the loaded build predates them. */
export function samplerBinding(): SamplerBinding {
  const addon: unknown = native;
  if (!isSamplerBinding(addon)) {
    throw new Error(
      "the loaded sana_native addon has no sampler binding (rebuild it: npm run build -w native)",
    );
  }
  return addon;
}

export function createSampler(spec: SamplerSpec): Sampler {
  return samplerBinding().createSampler(spec);
}
