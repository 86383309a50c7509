// Cache keys for generated images. A request with a seed is deterministic: the same normalised parameters on
// the same weights give the same image, so its key is a hash of exactly what decides the pixels and bytes.
import { type ModelCapabilities, samplerName, sha256, toHex } from "@sana-edge/proto";
import { type ImagesRequest, outputQuality } from "../api/images-request.js";

/** Bumped whenever the meaning of a key's fields changes, so old entries are simply never hit again. */
const KEY_VERSION = "v1";

export interface CacheKeyModel {
  readonly id: string;
  /** Weights revision: two hosts with different weights under one id must never share entries. */
  readonly revision: string;
  readonly capabilities: ModelCapabilities;
}

type CanonicalValue = string | number | boolean | null | { readonly [key: string]: CanonicalValue };

/**
 * The hex SHA-256 cache key of image `index` of `req` on `model`, or undefined when the request has no seed
 * (the sidecar then draws one, so nothing can be reused). n, stream, partial_images and response_format are
 * left out: they change how images are delivered, not the images.
 */
export async function cacheKey(
  req: ImagesRequest,
  index: number,
  model: CacheKeyModel,
): Promise<string | undefined> {
  if (req.seed === undefined) return undefined;
  const text = `${KEY_VERSION}:${canonicalJson(normalisedImage(req, req.seed, index, model))}`;
  return toHex(await sha256(new TextEncoder().encode(text)));
}

// Every default is filled from the model's capabilities, so leaving a field out and sending its default
// value give the same key.
function normalisedImage(
  req: ImagesRequest,
  seed: number,
  index: number,
  model: CacheKeyModel,
): Record<string, CanonicalValue> {
  const caps = model.capabilities;
  return {
    model: model.id,
    revision: model.revision,
    prompt: req.prompt,
    // The proto treats a missing negative prompt as the empty one; models without CFG ignore it entirely.
    negative_prompt: caps.supportsNegativePrompt ? (req.negative_prompt ?? "") : null,
    width: req.size?.width ?? caps.nativeResolution,
    height: req.size?.height ?? caps.nativeResolution,
    steps: req.steps ?? caps.defaultSteps,
    // The wire carries a float32, so 4.5 and 4.500000001 run identically; the default already is one.
    guidance_scale: Math.fround(req.guidance_scale ?? caps.defaultGuidanceScale),
    sampler: req.sampler ?? samplerName(caps.defaultSampler) ?? `sampler-${caps.defaultSampler}`,
    // A decimal string: seed + index may pass 2^53, where numbers stop being exact.
    seed: (BigInt(seed) + BigInt(index)).toString(),
    output_format: req.output_format,
    // What the sidecar receives (0: its default), so 0 and 1, or any value on a PNG, share entries.
    output_quality: outputQuality(req),
  };
}

/** JSON with object keys sorted at every level, so field order never changes the text. */
export function canonicalJson(value: CanonicalValue): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] ?? null)}`);
  return `{${entries.join(",")}}`;
}
