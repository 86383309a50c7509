import { native } from "./index.js";

// The Sana transformer (SanaTransformer2DModel) from src/node/dit_binding.cpp. Every call
// runs off the JS thread and returns a Promise; one transformer runs one call at a time.

export interface DitTensor {
  data: Float32Array;
  shape: number[];
}

/** transformer/config.json as the engine read it. */
export interface DitConfig {
  inChannels: number;
  outChannels: number;
  numLayers: number;
  numAttentionHeads: number;
  attentionHeadDim: number;
  innerDim: number;
  numCrossAttentionHeads: number;
  crossAttentionHeadDim: number;
  captionChannels: number;
  mlpRatio: number;
  patchSize: number;
  sampleSize: number;
  qkNorm: boolean;
  guidanceEmbeds: boolean;
  /** Applied by the pipeline (guidance = scale * guidanceEmbedsScale), not by forward(). */
  guidanceEmbedsScale: number;
  /** Applied by the pipeline (timestep * timestepScale), not by forward(). */
  timestepScale: number;
  interpolationScale: number | null;
}

/** 0/1 per caption token (1 = keep); any float m becomes the additive bias (1 - m) * -10000. */
export type DitMask = Float32Array | Int32Array | BigInt64Array | Uint8Array | number[];
export type DitValues = Float32Array | number[];

export interface DitTextInput {
  /** (batch, tokens, captionChannels), e.g. Gemma-2 prompt embeddings. */
  encoderHiddenStates: Float32Array;
  encoderShape: number[];
  encoderMask?: DitMask;
}

export interface DitForwardInput extends Partial<DitTextInput> {
  /** Latents (batch, inChannels, height, width), NCHW. */
  hiddenStates: Float32Array;
  shape: number[];
  /** One value per batch item (or one for all), already multiplied by timestepScale. */
  timestep: DitValues;
  /** Sana-Sprint: one value per batch item (or one for all). */
  guidance?: DitValues;
  /** Caption K/V from encodeText(), reused across steps; replaces encoderHiddenStates/Mask. */
  text?: DitTextContext;
  /** Which encoded prompt each latent item uses (e.g. PAG [uncond, cond, cond] = [0, 1, 1]). */
  textIndex?: number[];
  /** PAG: layer indices whose self-attention uses diffusers' PAG processor (no qk-norm)... */
  pagLayers?: number[];
  /** ...and the batch items that take its perturbed (identity attention) path there. */
  perturbed?: boolean[];
}

export interface DitCallOptions {
  /** Also return the intermediate tensors the golden cases check. */
  capture?: boolean;
}

/**
 * Intermediates by name: patch_embed_out, time_embed_out, embedded_timestep,
 * caption_projection_out, caption_norm_out (when the call encoded the caption),
 * block{i}_out, norm_out.
 */
export type DitIntermediates = Record<string, DitTensor>;

export interface DitForwardResult {
  /** Flow velocity (batch, outChannels, height, width). */
  sample: DitTensor;
  intermediates?: DitIntermediates;
}

/** An encoded caption batch: the caption projection and every layer's cross-attention K/V. */
export interface DitTextContext {
  readonly batch: number;
  readonly tokens: number;
  readonly bytes: number;
  readonly intermediates?: DitIntermediates;
}

export interface Transformer {
  readonly config: DitConfig;
  readonly backend: string;
  readonly weightBytes: number;
  encodeText(input: DitTextInput, options?: DitCallOptions): Promise<DitTextContext>;
  forward(input: DitForwardInput, options?: DitCallOptions): Promise<DitForwardResult>;
}

export interface LoadTransformerOptions {
  /** "cpu" (default) or "cuda" (builds with the CUDA backend). */
  backend?: string;
}

export interface DitBinding {
  /** A transformer/ folder, or a pipeline folder that has one. */
  loadTransformer(path: string, options?: LoadTransformerOptions): Promise<Transformer>;
}

function isDitBinding(value: unknown): value is DitBinding {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).loadTransformer === "function"
  );
}

/** The addon's transformer functions; throws when the loaded build predates them. */
export function ditBinding(): DitBinding {
  const addon: unknown = native;
  if (!isDitBinding(addon)) {
    throw new Error(
      "the loaded sana_native addon has no transformer binding (rebuild it: npm run build -w native)",
    );
  }
  return addon;
}

export function loadTransformer(path: string, options?: LoadTransformerOptions): Promise<Transformer> {
  return ditBinding().loadTransformer(path, options);
}
