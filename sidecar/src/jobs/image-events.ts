import { create } from "@bufbuild/protobuf";
import { planResizeAndCrop } from "@sana-edge/native";
import {
  finalImageEvents,
  type GenerateResponse,
  GenerateResponseSchema,
  imageFormatName,
  MAX_CHUNK_BYTES,
  PreviewFormat,
  previewFormatMime,
} from "@sana-edge/proto";
import type { GeneratedImage } from "../engine/text-to-image.js";
import { type EncodeOptions, encodeImage, type RawRgb } from "../images/encode.js";
import type { JobSpec, PixelSize } from "../service/validate.js";

// The pictures a job streams: small previews while it denoises and the final image, encoded
// with sharp and cut into chunks of at most 1 MiB (views of one encoded buffer, no copies).

const PREVIEW_QUALITY = 70;

/** The preview's size: the output's aspect ratio, longest side at most maxSize and half the output's. */
export function previewSize(output: PixelSize, maxSize: number): PixelSize {
  const longest = Math.max(output.width, output.height);
  const target = Math.max(1, Math.min(maxSize, Math.floor(longest / 2)));
  const scale = target / longest;
  return {
    width: Math.max(1, Math.round(output.width * scale)),
    height: Math.max(1, Math.round(output.height * scale)),
  };
}

/** A Preview event from the engine's one-pixel-per-latent preview; undefined if it would not fit a message. */
export async function previewEvent(
  rgb: RawRgb,
  spec: JobSpec,
  step: number,
): Promise<GenerateResponse | undefined> {
  const size = previewSize(spec.output, spec.previewMaxSize);
  const data = await encodeImage(rgb, {
    format: spec.previewFormat === PreviewFormat.WEBP ? "webp" : "jpeg",
    quality: PREVIEW_QUALITY,
    resize: size,
  });
  if (data.length > MAX_CHUNK_BYTES) return undefined;
  const value = { step, data, mime: previewFormatMime(spec.previewFormat), ...size };
  return create(GenerateResponseSchema, { event: { case: "preview", value } });
}

/** How the engine's image becomes the requested size and encoding. */
function finalEncoding(spec: JobSpec): EncodeOptions {
  const format = imageFormatName(spec.outputFormat);
  const options: EncodeOptions = format === "png" ? { format } : { format, quality: spec.outputQuality };
  const plan = planResizeAndCrop(spec.generation, spec.output);
  if (!plan.needed) return options;
  return { ...options, resize: plan.resize, crop: { ...plan.crop } };
}

/** image_header and the chunks of the final image, in stream order. */
export async function finalImageResponses(image: GeneratedImage, spec: JobSpec): Promise<GenerateResponse[]> {
  const data = await encodeImage(image, finalEncoding(spec));
  return finalImageEvents({
    data,
    format: spec.outputFormat,
    width: spec.output.width,
    height: spec.output.height,
    seed: image.seed,
  });
}
