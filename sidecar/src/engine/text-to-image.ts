import {
  type Denoiser,
  type DenoiseStep,
  denoiseWithSignal,
  type EncodedPrompt,
  loadDenoiser,
  loadVae,
  type PromptEmbeddings,
  type SamplerName,
  SanaTextEncoder,
  torchRandn,
  type VaeModel,
} from "@sana-edge/native";
import type { RawRgb } from "../images/encode.js";

// Prompt → pixels on one model folder: Gemma-2 prompt encoding, the engine's denoising loop
// and the DC-AE decode. The only sidecar code (with models.ts) that touches the engine.

/** Image pixels per latent pixel of SANA's DC-AE (f32c32). */
export const LATENT_SCALE = 32;

export interface TextToImageRequest {
  prompt: string;
  negativePrompt?: string;
  /** Pixels; multiples of 32. */
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  seed: bigint;
  sampler?: SamplerName;
  /** Prepend SANA's complex human instruction to the prompt (the reference default). */
  useComplexHumanInstruction?: boolean;
}

/** One image of a batch: what may differ between the requests that share an engine run. */
export interface BatchItem {
  prompt: string;
  negativePrompt?: string;
  seed: bigint;
  /** Prepend SANA's complex human instruction to the prompt (the reference default). */
  useComplexHumanInstruction?: boolean;
}

/** Requests that agree on everything but their items run as one engine batch. */
export interface BatchRequest {
  /** Generation size in pixels, multiples of 32 (already binned by the caller). */
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  sampler?: SamplerName;
  /** > 0 runs perturbed-attention guidance on the layers given to TextToImage.load. */
  pagScale?: number;
  /** 1..n images. */
  items: readonly BatchItem[];
}

export type GenerationStage = "encoding_prompt" | "denoising" | "decoding";

export interface GenerationProgress {
  stage: GenerationStage;
  step: number;
  totalSteps: number;
  /** The sampler's clean-latent prediction after this step (denoising only). */
  denoised?: Float32Array;
}

export interface BatchProgress {
  stage: GenerationStage;
  step: number;
  totalSteps: number;
  /** Denoising only: the sampler's clean-latent prediction for the whole batch, (batch, C, h, w). */
  denoised?: Float32Array;
  latentShape: [number, number, number, number];
}

export interface GeneratedImage {
  /** 8-bit RGB, row-major (height, width, 3). */
  rgb: Uint8Array;
  width: number;
  height: number;
  seed: bigint;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
}

export interface BatchOptions {
  /** Aborts the whole batch: the engine stops before its next step (GenerationCancelledError). */
  signal?: AbortSignal;
  onProgress?: (progress: BatchProgress) => void;
  /** Called once per item as soon as that item is decoded, in item order, before generateBatch resolves. */
  onImage?: (index: number, image: GeneratedImage) => void;
}

export interface TextToImageLoadOptions {
  /** The engine backend every model part runs on: "cpu" (default) or "cuda". */
  backend?: string;
  /**
   * Transformer blocks that perturbed-attention guidance perturbs (default [0]: diffusers
   * SanaPAGPipeline's "transformer_blocks.0").
   */
  pagLayers?: readonly number[];
}

/** Thrown when the caller aborted; the engine stopped before its next step. */
export class GenerationCancelledError extends Error {
  constructor(readonly stepsCompleted: number) {
    super(`generation cancelled after ${stepsCompleted} steps`);
    this.name = "GenerationCancelledError";
  }
}

function checkSize(name: string, pixels: number): number {
  if (!Number.isInteger(pixels) || pixels < LATENT_SCALE || pixels % LATENT_SCALE !== 0) {
    throw new RangeError(`${name} must be a positive multiple of ${LATENT_SCALE}, got ${pixels}`);
  }
  return pixels / LATENT_SCALE;
}

interface PromptText {
  prompt: string;
  complexHumanInstruction: boolean;
}

/** Stacks batch-1 encodings (all of tokens = maxSequenceLength) into one (batch, tokens, d). */
function stackEncodings(parts: readonly EncodedPrompt[]): PromptEmbeddings {
  const [first] = parts;
  if (first === undefined) throw new RangeError("stackEncodings: no encodings");
  if (parts.length === 1) return first;
  const embeds = new Float32Array(parts.length * first.embeds.length);
  const mask = new Float32Array(parts.length * first.mask.length);
  parts.forEach((part, b) => {
    if (part.tokens !== first.tokens || part.embeds.length !== first.embeds.length) {
      throw new Error(
        `prompt encodings differ in shape: ${part.shape.join("x")} vs ${first.shape.join("x")}`,
      );
    }
    embeds.set(part.embeds, b * first.embeds.length);
    mask.set(part.mask, b * first.mask.length);
  });
  return { embeds, mask, batch: parts.length, tokens: first.tokens };
}

/**
 * Each item's own torch draws, laid out as the engine would draw them for that item alone
 * (latents, then one draw per step for samplers that add noise), so an item's image does not
 * depend on the batch it runs in.
 */
function batchNoise(
  seeds: readonly bigint[],
  imageSize: number,
  noiseSteps: number,
): { latents: Float32Array; stepNoise?: Float32Array } {
  const batch = seeds.length;
  const latents = new Float32Array(batch * imageSize);
  const stepNoise = new Float32Array(noiseSteps * batch * imageSize);
  seeds.forEach((seed, b) => {
    const draws = torchRandn(seed, imageSize, 1 + noiseSteps);
    latents.set(draws.subarray(0, imageSize), b * imageSize);
    for (let step = 0; step < noiseSteps; step++) {
      const from = (step + 1) * imageSize;
      stepNoise.set(draws.subarray(from, from + imageSize), (step * batch + b) * imageSize);
    }
  });
  return noiseSteps > 0 ? { latents, stepNoise } : { latents };
}

export class TextToImage {
  private constructor(
    readonly modelDir: string,
    private readonly text: SanaTextEncoder,
    private readonly denoiser: Denoiser,
    private readonly vae: VaeModel,
    private readonly pagLayers: readonly number[],
  ) {}

  static async load(modelDir: string, options: TextToImageLoadOptions = {}): Promise<TextToImage> {
    const backend = options.backend ?? "cpu";
    const [text, denoiser, vae] = await Promise.all([
      SanaTextEncoder.load(modelDir, { backend }),
      loadDenoiser(modelDir, { backend }),
      loadVae(modelDir, { encoder: false, backend }),
    ]);
    const pagLayers = [...(options.pagLayers ?? [0])];
    for (const layer of pagLayers) {
      if (!Number.isInteger(layer) || layer < 0 || layer >= denoiser.numLayers) {
        throw new RangeError(`PAG layer ${layer} outside 0..${denoiser.numLayers - 1}`);
      }
    }
    return new TextToImage(modelDir, text, denoiser, vae, pagLayers);
  }

  /** Sana-Sprint: guidance is an embedding of the scale, so negative prompts and PAG do not apply. */
  get guidanceEmbeds(): boolean {
    return this.denoiser.guidanceEmbeds;
  }

  async generate(request: TextToImageRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    const { prompt, negativePrompt, seed, useComplexHumanInstruction, ...shared } = request;
    const item: BatchItem = {
      prompt,
      seed,
      ...(negativePrompt === undefined ? {} : { negativePrompt }),
      ...(useComplexHumanInstruction === undefined ? {} : { useComplexHumanInstruction }),
    };
    const { signal, onProgress } = options;
    const [image] = await this.generateBatch(
      { ...shared, items: [item] },
      {
        ...(signal === undefined ? {} : { signal }),
        ...(onProgress === undefined
          ? {}
          : {
              onProgress: ({ stage, step, totalSteps, denoised }: BatchProgress) =>
                onProgress({ stage, step, totalSteps, ...(denoised === undefined ? {} : { denoised }) }),
            }),
      },
    );
    if (image === undefined) throw new Error("generateBatch returned no image");
    return image;
  }

  async generateBatch(request: BatchRequest, options: BatchOptions = {}): Promise<GeneratedImage[]> {
    const latentWidth = checkSize("width", request.width);
    const latentHeight = checkSize("height", request.height);
    const { items, steps } = request;
    if (items.length === 0) throw new RangeError("generateBatch: no items");
    const { signal, onProgress, onImage } = options;
    const channels = this.denoiser.latentChannels;
    const latentShape: [number, number, number, number] = [items.length, channels, latentHeight, latentWidth];
    const report = (progress: Omit<BatchProgress, "latentShape">) =>
      onProgress?.({ ...progress, latentShape });

    report({ stage: "encoding_prompt", step: 0, totalSteps: steps });
    const cfg = !this.denoiser.guidanceEmbeds && request.guidanceScale > 1;
    const [prompt, negative] = await Promise.all([
      this.encodeRows(
        items.map((item) => ({
          prompt: item.prompt,
          complexHumanInstruction: item.useComplexHumanInstruction ?? true,
        })),
      ),
      cfg
        ? this.encodeRows(
            items.map((item) => ({ prompt: item.negativePrompt ?? "", complexHumanInstruction: false })),
          )
        : undefined,
    ]);
    if (signal?.aborted) throw new GenerationCancelledError(0);

    const imageSize = channels * latentHeight * latentWidth;
    // Only Sprint's sampler (scm, the one a guidance-embedding model must use) adds noise per step.
    const noise = batchNoise(
      items.map((item) => item.seed),
      imageSize,
      this.denoiser.guidanceEmbeds ? steps : 0,
    );
    const pagScale = request.pagScale ?? 0;
    const onStep = (s: DenoiseStep) =>
      report({ stage: "denoising", step: s.step + 1, totalSteps: s.total, denoised: s.denoised });
    const run = await denoiseWithSignal(
      this.denoiser,
      {
        batch: items.length,
        height: latentHeight,
        width: latentWidth,
        steps,
        guidanceScale: request.guidanceScale,
        prompt,
        ...noise,
        ...(negative === undefined ? {} : { negative }),
        ...(request.sampler === undefined ? {} : { sampler: request.sampler }),
        ...(pagScale > 0 ? { pagScale, pagLayers: [...this.pagLayers] } : {}),
      },
      signal ?? new AbortController().signal,
      onStep,
    );
    if (run.cancelled) throw new GenerationCancelledError(run.stepsCompleted);

    report({ stage: "decoding", step: steps, totalSteps: steps });
    // One item per decode: each image can leave as soon as it exists, and the decoder's
    // workspace stays that of a single image at the largest sizes.
    const images: GeneratedImage[] = [];
    for (const [index, item] of items.entries()) {
      if (signal?.aborted) throw new GenerationCancelledError(run.stepsCompleted);
      const latent = run.latents.subarray(index * imageSize, (index + 1) * imageSize);
      const decoded = await this.vae.decodeToRgb8(latent, [1, channels, latentHeight, latentWidth], {
        scaled: true,
      });
      const image = { rgb: decoded.data, width: request.width, height: request.height, seed: item.seed };
      images.push(image);
      onImage?.(index, image);
    }
    return images;
  }

  /**
   * Cheap preview of item `index` of a `denoised` batch from BatchProgress: one RGB pixel per
   * latent pixel (VaeModel.preview), as 8-bit RGB.
   */
  async preview(
    denoised: Float32Array,
    latentShape: readonly [number, number, number, number],
    index: number,
  ): Promise<RawRgb> {
    const [batch, channels, height, width] = latentShape;
    const imageSize = channels * height * width;
    if (denoised.length !== batch * imageSize) {
      throw new RangeError(
        `preview: ${denoised.length} values, shape [${latentShape.join(", ")}] needs ${batch * imageSize}`,
      );
    }
    if (!Number.isInteger(index) || index < 0 || index >= batch) {
      throw new RangeError(`preview: item ${index} outside 0..${batch - 1}`);
    }
    const latent = denoised.subarray(index * imageSize, (index + 1) * imageSize);
    const rgb = await this.vae.preview(latent, [1, channels, height, width], { scaled: true });
    // Clamped conversion rounds half to even, as the full decode's bytes do.
    const bytes = Uint8ClampedArray.from(rgb.data, (v) => v * 255);
    return { rgb: new Uint8Array(bytes.buffer), width, height };
  }

  /** Fits the preview's colour map now (decoder passes on a real model) so no job pays for it. */
  async warmPreview(): Promise<void> {
    await this.vae.previewStats();
  }

  /** One embedding row per item, or a single shared row when every item has the same text. */
  private async encodeRows(texts: readonly PromptText[]): Promise<PromptEmbeddings> {
    const [first] = texts;
    const shared =
      first !== undefined &&
      texts.every(
        (t) => t.prompt === first.prompt && t.complexHumanInstruction === first.complexHumanInstruction,
      );
    const rows = shared ? [first] : texts;
    const parts = await Promise.all(
      rows.map((t) =>
        this.text.encodePrompt(t.prompt, {
          complexHumanInstruction: t.complexHumanInstruction,
          exactPadding: false,
        }),
      ),
    );
    return stackEncodings(parts);
  }
}
