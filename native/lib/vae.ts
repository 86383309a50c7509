import { native } from "./index.js";

// The DC-AE autoencoder (diffusers AutoencoderDC) from src/node/vae_binding.cpp. Every
// decode / encode runs off the JS thread and returns a Promise; one model runs one pass at a
// time (concurrent calls queue). Latents are "raw" (AutoencoderDC's own space) unless
// `scaled` says they are the diffusion model's (raw * scalingFactor).

export interface VaeTensor {
  data: Float32Array;
  shape: number[];
}

/** 8-bit RGB, (batch, height, width, 3) row-major. */
export interface VaeRgb8Image {
  data: Uint8Array;
  shape: number[];
}

export interface VaeInfo {
  backend: string;
  inChannels: number;
  latentChannels: number;
  /** Image pixels per latent pixel along each axis (32 for the SANA DC-AE). */
  spatialCompression: number;
  scalingFactor: number;
  weightBytes: number;
  hasEncoder: boolean;
  hasDecoder: boolean;
}

export interface VaeDecodeOptions {
  /** The latent is in the diffusion model's space: divide by scalingFactor first (what SanaPipeline decodes). */
  scaled?: boolean;
  /**
   * Decode the high-resolution stages tile by tile, each tile with a halo covering its
   * receptive field: the same image as an untiled decode (to float rounding), in memory
   * bounded by the tile size. Default: tiled only when the untiled workspace would pass 4 GiB.
   */
  tiled?: boolean;
  /** Tile edge in latent pixels (default 32, i.e. 1024 image pixels). */
  tileLatent?: number;
}

export interface VaeDecodeCallOptions extends VaeDecodeOptions {
  /** Also return decoder_conv_in_out and decoder_up_blocks_{i}_out (NCHW); needs an untiled decode. */
  capture?: boolean;
}

export interface VaeEncodeOptions {
  /** Multiply the latent by scalingFactor (the diffusion model's space, as img2img uses it). */
  scaled?: boolean;
  /** Also return encoder_down_blocks_{i}_out (NCHW). */
  capture?: boolean;
}

export interface VaeResult extends VaeTensor {
  intermediates?: Record<string, VaeTensor>;
}

export interface VaeModel {
  info(): VaeInfo;
  /** AutoencoderDC.decode: latent (B, latentChannels, h, w) -> image (B, 3, 32h, 32w) NCHW, about [-1, 1], not clamped. */
  decode(latent: Float32Array, shape: number[], options?: VaeDecodeCallOptions): Promise<VaeResult>;
  /** The pipeline's output_type "np": clamp(x / 2 + 0.5, 0, 1) as NHWC (B, 32h, 32w, 3) floats. */
  decodeToImage(latent: Float32Array, shape: number[], options?: VaeDecodeOptions): Promise<VaeTensor>;
  /** ...then numpy_to_pil's (x * 255).round() (half to even) as bytes, NHWC (B, 32h, 32w, 3). */
  decodeToRgb8(latent: Float32Array, shape: number[], options?: VaeDecodeOptions): Promise<VaeRgb8Image>;
  /** AutoencoderDC.encode: image (B, 3, H, W) in [-1, 1], H and W multiples of 32 -> latent (B, latentChannels, H/32, W/32). */
  encode(image: Float32Array, shape: number[], options?: VaeEncodeOptions): Promise<VaeResult>;
  /**
   * A cheap preview, one RGB pixel per latent pixel: NHWC (B, h, w, 3) in [0, 1] from a
   * linear map of the latent channels fitted (on first use, by least squares) to this
   * decoder's own 32x32-block-averaged output. No decoder pass per call.
   */
  preview(latent: Float32Array, shape: number[], options?: { scaled?: boolean }): Promise<VaeTensor>;
  /** How well the preview's fit went (fits first if needed). */
  previewStats(): Promise<VaePreviewStats>;
  /** Scratch bytes an untiled decode of a (batch, height, width) latent takes. */
  decodeWorkspaceBytes(batch: number, height: number, width: number): number;
  /** Frees the weights once queued work is done; later calls throw. */
  dispose(): void;
}

/**
 * PSNR (dB, [0, 1] scale) of the preview against the 32x32 block means of full decodes, on
 * its fit latents and on held-out ones, each next to the best flat colour (the fit set's mean).
 */
export interface VaePreviewStats {
  fitPsnr: number;
  fitFlatPsnr: number;
  testPsnr: number;
  testFlatPsnr: number;
}

export interface LoadVaeOptions {
  /** The compute backend: "cpu" (default) or "cuda" (builds with the CUDA backend). */
  backend?: string;
  /** Load the encoder (default true). */
  encoder?: boolean;
  /** Load the decoder (default true); text-to-image needs only the decoder. */
  decoder?: boolean;
  /**
   * Scratch cap of one EfficientViT block in bytes (default 1 GiB, 0 = none). Larger images
   * run those blocks in bands of rows, with the same result and bounded memory.
   */
  vitScratchBytes?: number;
}

export interface VaeBinding {
  /** A vae/ folder, or a pipeline folder that has one. */
  loadVae(path: string, options?: LoadVaeOptions): Promise<VaeModel>;
}

function isVaeBinding(value: unknown): value is VaeBinding {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).loadVae === "function"
  );
}

/** The addon's VAE functions; throws when the loaded build predates them. */
export function vaeBinding(): VaeBinding {
  const addon: unknown = native;
  if (!isVaeBinding(addon)) {
    throw new Error("the loaded sana_native addon has no VAE binding (rebuild it: npm run build -w native)");
  }
  return addon;
}

export function loadVae(path: string, options?: LoadVaeOptions): Promise<VaeModel> {
  return vaeBinding().loadVae(path, options);
}
