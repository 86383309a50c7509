import sharp from "sharp";

// Final images and previews leave the sidecar encoded; sharp (libvips) does the work.

export type ImageFormat = "png" | "jpeg" | "webp";

export interface RawRgb {
  /** 8-bit RGB, row-major (height, width, 3). */
  rgb: Uint8Array;
  width: number;
  height: number;
}

export interface EncodeOptions {
  format: ImageFormat;
  /** 1–100 for JPEG and WebP; ignored for PNG. */
  quality?: number;
  /** Longest edge after downscaling (previews); absent: full size. */
  maxSize?: number;
  /** Scale to exactly this size first (resolution binning's resize back, preview upscaling). */
  resize?: { width: number; height: number };
  /** Then keep this window of the (resized) image. */
  crop?: { left: number; top: number; width: number; height: number };
}

export const MIME_TYPES: Record<ImageFormat, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  webp: "image/webp",
};

export async function encodeImage(image: RawRgb, options: EncodeOptions): Promise<Uint8Array> {
  const expected = image.width * image.height * 3;
  if (image.rgb.length !== expected) {
    throw new RangeError(
      `RGB buffer has ${image.rgb.length} bytes, ${image.width}x${image.height} needs ${expected}`,
    );
  }
  let pipeline = sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } });
  if (options.resize !== undefined) {
    // Bilinear, as the reference's F.interpolate resize back from the aspect-ratio bin.
    pipeline = pipeline.resize({ ...options.resize, fit: "fill", kernel: "linear" });
  }
  if (options.crop !== undefined) pipeline = pipeline.extract(options.crop);
  // sharp keeps only the last resize of a pipeline, so maxSize yields to an explicit resize.
  if (
    options.resize === undefined &&
    options.maxSize !== undefined &&
    Math.max(image.width, image.height) > options.maxSize
  ) {
    pipeline = pipeline.resize({ width: options.maxSize, height: options.maxSize, fit: "inside" });
  }
  const quality = options.quality;
  switch (options.format) {
    case "png":
      pipeline = pipeline.png();
      break;
    case "jpeg":
      pipeline = pipeline.jpeg(quality === undefined ? {} : { quality });
      break;
    case "webp":
      pipeline = pipeline.webp(quality === undefined ? {} : { quality });
      break;
  }
  const encoded = await pipeline.toBuffer();
  // A view, not a copy: a 4096² PNG is tens of megabytes.
  return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}
