// SanaPipeline's resolution binning (use_resolution_binning=True, its default): the requested
// size is replaced by the aspect-ratio bin closest to it, the model generates at the bin, and
// the decoded image is resized and center-cropped back to the request. The model was trained
// on these bins only, so generating at arbitrary sizes degrades it; that is why the reference
// bins by default. Pure arithmetic here: the pixels are resized by the sidecar.

/** One bin: the aspect ratio height / width as the reference writes it, and its pixel size. */
export interface AspectRatioBin {
  /** The reference's dict key (decimal text); parsed like Python's float(). */
  readonly ratio: string;
  readonly height: number;
  readonly width: number;
}

/** A bin table in the reference's dict order (the order decides ties). */
export type AspectRatioBinTable = readonly AspectRatioBin[];

export interface Size {
  height: number;
  width: number;
}

function bins(rows: readonly (readonly [string, number, number])[]): AspectRatioBinTable {
  return Object.freeze(rows.map(([ratio, height, width]) => Object.freeze({ ratio, height, width })));
}

// The tables are data transcribed from diffusers (the files named on each); the Sana pipeline
// imports the 512/1024 tables from PixArt-alpha and the 2048 table from PixArt-Sigma.

/** diffusers pixart_alpha/pipeline_pixart_alpha.py ASPECT_RATIO_512_BIN (33 bins). */
export const ASPECT_RATIO_512_BIN: AspectRatioBinTable = bins([
  ["0.25", 256, 1024],
  ["0.28", 256, 928],
  ["0.32", 288, 896],
  ["0.33", 288, 864],
  ["0.35", 288, 832],
  ["0.4", 320, 800],
  ["0.42", 320, 768],
  ["0.48", 352, 736],
  ["0.5", 352, 704],
  ["0.52", 352, 672],
  ["0.57", 384, 672],
  ["0.6", 384, 640],
  ["0.68", 416, 608],
  ["0.72", 416, 576],
  ["0.78", 448, 576],
  ["0.82", 448, 544],
  ["0.88", 480, 544],
  ["0.94", 480, 512],
  ["1.0", 512, 512],
  ["1.07", 512, 480],
  ["1.13", 544, 480],
  ["1.21", 544, 448],
  ["1.29", 576, 448],
  ["1.38", 576, 416],
  ["1.46", 608, 416],
  ["1.67", 640, 384],
  ["1.75", 672, 384],
  ["2.0", 704, 352],
  ["2.09", 736, 352],
  ["2.4", 768, 320],
  ["2.5", 800, 320],
  ["3.0", 864, 288],
  ["4.0", 1024, 256],
]);

/** diffusers pixart_alpha/pipeline_pixart_alpha.py ASPECT_RATIO_1024_BIN (33 bins). */
export const ASPECT_RATIO_1024_BIN: AspectRatioBinTable = bins([
  ["0.25", 512, 2048],
  ["0.28", 512, 1856],
  ["0.32", 576, 1792],
  ["0.33", 576, 1728],
  ["0.35", 576, 1664],
  ["0.4", 640, 1600],
  ["0.42", 640, 1536],
  ["0.48", 704, 1472],
  ["0.5", 704, 1408],
  ["0.52", 704, 1344],
  ["0.57", 768, 1344],
  ["0.6", 768, 1280],
  ["0.68", 832, 1216],
  ["0.72", 832, 1152],
  ["0.78", 896, 1152],
  ["0.82", 896, 1088],
  ["0.88", 960, 1088],
  ["0.94", 960, 1024],
  ["1.0", 1024, 1024],
  ["1.07", 1024, 960],
  ["1.13", 1088, 960],
  ["1.21", 1088, 896],
  ["1.29", 1152, 896],
  ["1.38", 1152, 832],
  ["1.46", 1216, 832],
  ["1.67", 1280, 768],
  ["1.75", 1344, 768],
  ["2.0", 1408, 704],
  ["2.09", 1472, 704],
  ["2.4", 1536, 640],
  ["2.5", 1600, 640],
  ["3.0", 1728, 576],
  ["4.0", 2048, 512],
]);

/** diffusers pixart_alpha/pipeline_pixart_sigma.py ASPECT_RATIO_2048_BIN (40 bins). */
export const ASPECT_RATIO_2048_BIN: AspectRatioBinTable = bins([
  ["0.25", 1024, 4096],
  ["0.26", 1024, 3968],
  ["0.27", 1024, 3840],
  ["0.28", 1024, 3712],
  ["0.32", 1152, 3584],
  ["0.33", 1152, 3456],
  ["0.35", 1152, 3328],
  ["0.4", 1280, 3200],
  ["0.42", 1280, 3072],
  ["0.48", 1408, 2944],
  ["0.5", 1408, 2816],
  ["0.52", 1408, 2688],
  ["0.57", 1536, 2688],
  ["0.6", 1536, 2560],
  ["0.68", 1664, 2432],
  ["0.72", 1664, 2304],
  ["0.78", 1792, 2304],
  ["0.82", 1792, 2176],
  ["0.88", 1920, 2176],
  ["0.94", 1920, 2048],
  ["1.0", 2048, 2048],
  ["1.07", 2048, 1920],
  ["1.13", 2176, 1920],
  ["1.21", 2176, 1792],
  ["1.29", 2304, 1792],
  ["1.38", 2304, 1664],
  ["1.46", 2432, 1664],
  ["1.67", 2560, 1536],
  ["1.75", 2688, 1536],
  ["2.0", 2816, 1408],
  ["2.09", 2944, 1408],
  ["2.4", 3072, 1280],
  ["2.5", 3200, 1280],
  ["2.89", 3328, 1152],
  ["3.0", 3456, 1152],
  ["3.11", 3584, 1152],
  ["3.62", 3712, 1024],
  ["3.75", 3840, 1024],
  ["3.88", 3968, 1024],
  ["4.0", 4096, 1024],
]);

/** diffusers sana/pipeline_sana.py ASPECT_RATIO_4096_BIN (40 bins). */
export const ASPECT_RATIO_4096_BIN: AspectRatioBinTable = bins([
  ["0.25", 2048, 8192],
  ["0.26", 2048, 7936],
  ["0.27", 2048, 7680],
  ["0.28", 2048, 7424],
  ["0.32", 2304, 7168],
  ["0.33", 2304, 6912],
  ["0.35", 2304, 6656],
  ["0.4", 2560, 6400],
  ["0.42", 2560, 6144],
  ["0.48", 2816, 5888],
  ["0.5", 2816, 5632],
  ["0.52", 2816, 5376],
  ["0.57", 3072, 5376],
  ["0.6", 3072, 5120],
  ["0.68", 3328, 4864],
  ["0.72", 3328, 4608],
  ["0.78", 3584, 4608],
  ["0.82", 3584, 4352],
  ["0.88", 3840, 4352],
  ["0.94", 3840, 4096],
  ["1.0", 4096, 4096],
  ["1.07", 4096, 3840],
  ["1.13", 4352, 3840],
  ["1.21", 4352, 3584],
  ["1.29", 4608, 3584],
  ["1.38", 4608, 3328],
  ["1.46", 4864, 3328],
  ["1.67", 5120, 3072],
  ["1.75", 5376, 3072],
  ["2.0", 5632, 2816],
  ["2.09", 5888, 2816],
  ["2.4", 6144, 2560],
  ["2.5", 6400, 2560],
  ["2.89", 6656, 2304],
  ["3.0", 6912, 2304],
  ["3.11", 7168, 2304],
  ["3.62", 7424, 2048],
  ["3.75", 7680, 2048],
  ["3.88", 7936, 2048],
  ["4.0", 8192, 2048],
]);

/**
 * The table SanaPipeline bins with, chosen by transformer.config.sample_size (latent pixels;
 * the VAE downsamples 32x): 16 -> 512 px, 32 -> 1024 px, 64 -> 2048 px, 128 -> 4096 px.
 * Throws for any other size, as the reference does ("Invalid sample size").
 */
export function aspectRatioBinTable(sampleSize: number): AspectRatioBinTable {
  switch (sampleSize) {
    case 16:
      return ASPECT_RATIO_512_BIN;
    case 32:
      return ASPECT_RATIO_1024_BIN;
    case 64:
      return ASPECT_RATIO_2048_BIN;
    case 128:
      return ASPECT_RATIO_4096_BIN;
    default:
      throw new RangeError(
        `resolution binning: transformer sample_size ${sampleSize} has no bin table (expected 16, 32, 64 or 128)`,
      );
  }
}

function checkSize(what: string, height: number, width: number): void {
  for (const [name, value] of [
    ["height", height],
    ["width", width],
  ] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`resolution binning: ${what} ${name} must be a positive integer, got ${value}`);
    }
  }
}

/**
 * VaeImageProcessor.classify_height_width_bin: the bin whose ratio is closest to
 * height / width. Ties go to the earlier bin in table order, as Python's min() does; both the
 * ratio and the distance are computed in float64 exactly as the reference computes them, so a
 * request halfway between two bins lands where it lands there.
 */
export function classifyHeightWidthBin(height: number, width: number, table: AspectRatioBinTable): Size {
  checkSize("requested", height, width);
  const aspect = height / width;
  let best: AspectRatioBin | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const bin of table) {
    const distance = Math.abs(Number(bin.ratio) - aspect);
    if (distance < bestDistance) {
      best = bin;
      bestDistance = distance;
    }
  }
  if (best === undefined) throw new RangeError("resolution binning: the bin table is empty");
  return { height: best.height, width: best.width };
}

/** The size SanaPipeline generates at for a request, given transformer.config.sample_size. */
export function binResolution(sampleSize: number, height: number, width: number): Size {
  return classifyHeightWidthBin(height, width, aspectRatioBinTable(sampleSize));
}

/** How to turn the decoded image (at the bin's size) back into the requested size. */
export interface ResizeCropPlan {
  /** Resize the whole image to this (bilinear, align_corners=False, no antialiasing). */
  resize: Size;
  /** Then keep this window of the resized image; its size is always the request. */
  crop: { top: number; left: number; height: number; width: number };
  /** False when the bin already is the request: the reference then leaves the image alone. */
  needed: boolean;
}

/**
 * VaeImageProcessor.resize_and_crop_tensor(image, requested.width, requested.height) as
 * numbers: scale = max(h / bh, w / bw) so the resized image covers the request, each side
 * truncated to an integer (Python's int()), then a center crop with offsets
 * (resized - requested) // 2.
 *
 * One deliberate difference: in float64, bw * (w / bw) can come out just below w (e.g. bin
 * 256x928, request 256x944 gives 943.99...), and the reference's int() then makes the resized
 * side one pixel short of the request; its crop offset becomes -1 and the tensor slice
 * [-1:w-1] returns a one-pixel strip instead of the image. Here a resized side is never
 * smaller than the requested side (the exact product is the request in that case), so the
 * plan always yields the requested size; every other plan is the reference's to the pixel.
 */
export function planResizeAndCrop(binned: Size, requested: Size): ResizeCropPlan {
  checkSize("binned", binned.height, binned.width);
  checkSize("requested", requested.height, requested.width);
  const needed = binned.height !== requested.height || binned.width !== requested.width;
  const scale = Math.max(requested.height / binned.height, requested.width / binned.width);
  const resize = needed
    ? {
        height: Math.max(Math.trunc(binned.height * scale), requested.height),
        width: Math.max(Math.trunc(binned.width * scale), requested.width),
      }
    : { height: binned.height, width: binned.width };
  return {
    resize,
    // Both differences are >= 0, so // 2 is a plain floor.
    crop: {
      top: Math.floor((resize.height - requested.height) / 2),
      left: Math.floor((resize.width - requested.width) / 2),
      height: requested.height,
      width: requested.width,
    },
    needed,
  };
}
