import { base64Pieces } from "../encoding/base64-stream.js";
import type { GenerationEvent } from "../generation/events.js";
import type { ImageSource } from "../generation/image-sources.js";
import type { ImageStore, StoredImage } from "../storage/image-store.js";
import { ApiError, errorBody } from "./errors.js";
import type { ImagesRequest } from "./images-request.js";

// The bodies of POST /v1/images/generations: OpenAI's JSON, or its server-sent events. Both are
// streams, so a 4096² image's base64 is never built in memory whole: it is read from the store
// and encoded piece by piece into the body.

export interface ResponseContext {
  readonly req: ImagesRequest;
  readonly store: ImageStore;
  /** Absolute URL prefix of GET /v1/images/{id}. */
  readonly imageUrl: (id: string) => string;
  readonly createdAt: number;
}

const encoder = new TextEncoder();

/** A seed as JSON: a number while it is exact as a double, else its decimal string. */
function seedJson(seed: string): string {
  return BigInt(seed) <= BigInt(Number.MAX_SAFE_INTEGER) ? seed : JSON.stringify(seed);
}

/** A body part: text, or bytes that are already ASCII (base64). */
type Part = string | Uint8Array;

async function* imageBase64(store: ImageStore, image: StoredImage): AsyncGenerator<Uint8Array> {
  const opened = await store.open(image.id);
  if (opened === undefined)
    throw new ApiError({ status: 500, type: "server_error", message: "a stored image vanished" });
  yield* base64Pieces(opened.body);
}

/** A body written by an async generator; cancelling the body (the client left) runs `onCancel`. */
export function streamBody(parts: AsyncGenerator<Part>, onCancel: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await parts.next();
        if (done) controller.close();
        else controller.enqueue(typeof value === "string" ? encoder.encode(value) : value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      onCancel();
      await parts.return(undefined);
    },
  });
}

/** OpenAI's non-streamed answer, for images that are all complete. */
export async function* jsonParts(
  images: readonly StoredImage[],
  context: ResponseContext,
): AsyncGenerator<Part> {
  const { req } = context;
  const [first] = images;
  const size = first === undefined ? "" : `${first.width}x${first.height}`;
  yield `{"created":${context.createdAt},"output_format":"${req.output_format}","size":"${size}","quality":"auto","background":"opaque","data":[`;
  for (const [i, image] of images.entries()) {
    const common = `"id":"${image.id}","seed":${seedJson(image.seed)}`;
    if (req.response_format === "url") {
      yield `${i > 0 ? "," : ""}{${common},"url":${JSON.stringify(context.imageUrl(image.id))}}`;
      continue;
    }
    yield `${i > 0 ? "," : ""}{${common},"b64_json":"`;
    yield* imageBase64(context.store, image);
    yield `"}`;
  }
  yield "]}";
}

function sse(event: string, data: object): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Merges the sources' events as they come, each tagged with its image index. */
async function* merged(sources: readonly ImageSource[]): AsyncGenerator<[number, GenerationEvent]> {
  const iterators = sources.map((s) => s.events[Symbol.asyncIterator]());
  const next = (i: number) =>
    (iterators[i]?.next() ?? Promise.resolve({ done: true as const, value: undefined })).then((r) => ({
      i,
      r,
    }));
  const pending = new Map(iterators.map((_, i) => [i, next(i)]));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done === true) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i));
      yield [i, r.value];
    }
  } finally {
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}

/** OpenAI's image stream (partial images, then completed per image) with our queue and progress events. */
export async function* sseParts(
  sources: readonly ImageSource[],
  context: ResponseContext,
): AsyncGenerator<Part> {
  const partials = new Map<number, number>();
  try {
    for await (const [index, event] of merged(sources)) {
      yield* eventParts(index, event, context, partials);
    }
  } catch (error) {
    // Headers are long gone: the failure travels as OpenAI's stream error event, which the SDKs raise.
    const apiError =
      error instanceof ApiError
        ? error
        : new ApiError({ status: 500, type: "server_error", message: "the generation failed" });
    yield sse("error", errorBody(apiError));
  }
}

async function* eventParts(
  index: number,
  event: GenerationEvent,
  context: ResponseContext,
  partials: Map<number, number>,
): AsyncGenerator<Part> {
  const { req, createdAt } = context;
  const common = {
    created_at: createdAt,
    quality: "auto",
    background: "opaque",
    output_format: req.output_format,
  };
  switch (event.type) {
    case "sana.queued":
    case "sana.progress":
      yield sse(event.type, { ...event, image_index: index });
      return;
    case "preview": {
      const sent = partials.get(index) ?? 0;
      if (sent >= req.partial_images) return;
      partials.set(index, sent + 1);
      yield sse("image_generation.partial_image", {
        type: "image_generation.partial_image",
        ...common,
        output_format: event.format,
        size: `${event.width}x${event.height}`,
        partial_image_index: sent,
        image_index: index,
        b64_json: event.b64_json,
      });
      return;
    }
    case "completed": {
      const { image } = event;
      const head = JSON.stringify({
        type: "image_generation.completed",
        ...common,
        size: `${image.width}x${image.height}`,
        image_index: index,
        id: image.id,
        url: context.imageUrl(image.id),
      });
      // b64_json goes last and is written as it is encoded; the seed keeps its exact digits.
      yield `event: image_generation.completed\ndata: ${head.slice(0, -1)},"seed":${seedJson(image.seed)},"b64_json":"`;
      yield* imageBase64(context.store, image);
      yield `"}\n\n`;
      return;
    }
    case "failed":
      throw new ApiError(event.error);
  }
}
