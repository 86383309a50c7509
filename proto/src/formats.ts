import { ImageFormat, PreviewFormat, Sampler } from "./gen/sana/v1/common_pb.js";

/** A concrete final-image encoding (the proto's UNSPECIFIED resolved to PNG). */
export type ConcreteImageFormat = ImageFormat.PNG | ImageFormat.JPEG | ImageFormat.WEBP;

/** The short names the public API and file extensions use. */
export type ImageFormatName = "png" | "jpeg" | "webp";

/** Applies the contract's default: an unset output format means PNG. */
export function resolveImageFormat(format: ImageFormat): ConcreteImageFormat {
  switch (format) {
    case ImageFormat.UNSPECIFIED:
    case ImageFormat.PNG:
      return ImageFormat.PNG;
    case ImageFormat.JPEG:
      return ImageFormat.JPEG;
    case ImageFormat.WEBP:
      return ImageFormat.WEBP;
    default:
      throw new RangeError(`unknown sana.v1.ImageFormat value ${String(format)}`);
  }
}

const IMAGE_FORMAT_NAMES: Record<ConcreteImageFormat, ImageFormatName> = {
  [ImageFormat.PNG]: "png",
  [ImageFormat.JPEG]: "jpeg",
  [ImageFormat.WEBP]: "webp",
};

/** "png" | "jpeg" | "webp" for a final-image format (unset means PNG). */
export function imageFormatName(format: ImageFormat): ImageFormatName {
  return IMAGE_FORMAT_NAMES[resolveImageFormat(format)];
}

/** The media type of a final-image format (unset means PNG). */
export function imageFormatMime(format: ImageFormat): string {
  return `image/${imageFormatName(format)}`;
}

/** The media type of a preview format (unset means JPEG). */
export function previewFormatMime(format: PreviewFormat): string {
  switch (format) {
    case PreviewFormat.UNSPECIFIED:
    case PreviewFormat.JPEG:
      return "image/jpeg";
    case PreviewFormat.WEBP:
      return "image/webp";
    default:
      throw new RangeError(`unknown sana.v1.PreviewFormat value ${String(format)}`);
  }
}

/** The format name of an image media type, or undefined for anything else. */
export function formatNameOfMime(mime: string): ImageFormatName | undefined {
  switch (mime) {
    case "image/png":
      return "png";
    case "image/jpeg":
      return "jpeg";
    case "image/webp":
      return "webp";
    default:
      return undefined;
  }
}

/** The samplers' names in the public API and the engine (the proto enum without its prefix, lower case). */
export const SAMPLER_NAMES = ["flow_dpm_solver", "flow_euler", "scm"] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

const SAMPLERS: Record<SamplerName, Sampler> = {
  flow_dpm_solver: Sampler.FLOW_DPM_SOLVER,
  flow_euler: Sampler.FLOW_EULER,
  scm: Sampler.SCM,
};

/** The proto enum value of a sampler name. */
export function samplerOfName(name: SamplerName): Sampler {
  return SAMPLERS[name];
}

/** The name of a proto sampler; undefined for SAMPLER_UNSPECIFIED and values this code does not know. */
export function samplerName(sampler: Sampler): SamplerName | undefined {
  return SAMPLER_NAMES.find((name) => SAMPLERS[name] === sampler);
}
