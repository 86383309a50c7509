import {
  type Denoiser,
  type DenoiseStep,
  denoiseWithSignal,
  loadDenoiser,
  loadVae,
  type SamplerName,
  SanaTextEncoder,
  type VaeModel,
} from "@sana-edge/native";

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

export type GenerationStage = "encoding_prompt" | "denoising" | "decoding";

export interface GenerationProgress {
  stage: GenerationStage;
  step: number;
  totalSteps: number;
  /** The sampler's clean-latent prediction after this step (denoising only). */
  denoised?: Float32Array;
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

export class TextToImage {
  private constructor(
    readonly modelDir: string,
    private readonly text: SanaTextEncoder,
    private readonly denoiser: Denoiser,
    private readonly vae: VaeModel,
  ) {}

  static async load(modelDir: string): Promise<TextToImage> {
    const [text, denoiser, vae] = await Promise.all([
      SanaTextEncoder.load(modelDir),
      loadDenoiser(modelDir),
      loadVae(modelDir, { encoder: false }),
    ]);
    return new TextToImage(modelDir, text, denoiser, vae);
  }

  async generate(request: TextToImageRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    const latentWidth = checkSize("width", request.width);
    const latentHeight = checkSize("height", request.height);
    const { signal, onProgress } = options;
    const report = (progress: GenerationProgress) => onProgress?.(progress);

    report({ stage: "encoding_prompt", step: 0, totalSteps: request.steps });
    const cfg = !this.denoiser.guidanceEmbeds && request.guidanceScale > 1;
    const [prompt, negative] = await Promise.all([
      this.text.encodePrompt(request.prompt, {
        complexHumanInstruction: request.useComplexHumanInstruction ?? true,
      }),
      cfg
        ? this.text.encodePrompt(request.negativePrompt ?? "", { complexHumanInstruction: false })
        : undefined,
    ]);
    signal?.throwIfAborted();

    const onStep = (s: DenoiseStep) =>
      report({ stage: "denoising", step: s.step + 1, totalSteps: s.total, denoised: s.denoised });
    const run = await denoiseWithSignal(
      this.denoiser,
      {
        batch: 1,
        height: latentHeight,
        width: latentWidth,
        steps: request.steps,
        guidanceScale: request.guidanceScale,
        seed: request.seed,
        prompt,
        ...(negative === undefined ? {} : { negative }),
        ...(request.sampler === undefined ? {} : { sampler: request.sampler }),
      },
      signal ?? new AbortController().signal,
      onStep,
    );
    if (run.cancelled) throw new GenerationCancelledError(run.stepsCompleted);

    report({ stage: "decoding", step: request.steps, totalSteps: request.steps });
    const image = await this.vae.decodeToRgb8(run.latents, run.shape, { scaled: true });
    return { rgb: image.data, width: request.width, height: request.height, seed: request.seed };
  }
}
