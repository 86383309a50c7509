import type { ModelInfo } from "@sana-edge/proto";
import type { Context } from "hono";
import type { AppEnv } from "../app-env.js";
import { generationDeps } from "../generation/deps.js";
import type { GenerationEvent } from "../generation/events.js";
import { type ImageSource, imageSource } from "../generation/image-sources.js";
import { noRouteError } from "../generation/no-route.js";
import { acquireGenerationSlot } from "../limits/admission.js";
import type { SidecarPool } from "../routing/index.js";
import type { StoredImage } from "../storage/image-store.js";
import { ApiError, invalidRequest } from "./errors.js";
import { jsonParts, type ResponseContext, sseParts, streamBody } from "./image-responses.js";
import { type ImagesRequest, parseImagesRequest, parseJsonBody } from "./images-request.js";

// POST /v1/images/generations: validate, admit (rate limits), route every image to a cached
// result, a shared in-flight generation or a new one, and answer as OpenAI does. Failures that
// happen before the first byte keep their HTTP status; later ones travel in the stream.

async function resolveModel(pool: SidecarPool, req: ImagesRequest): Promise<ModelInfo> {
  const models = await pool.models();
  const model = req.model === undefined ? models[0] : models.find((m) => m.id === req.model);
  if (model === undefined) {
    throw noRouteError(pool, {
      ...(req.model === undefined ? {} : { model: req.model }),
      width: 0,
      height: 0,
    });
  }
  const caps = model.capabilities;
  if (
    req.size !== undefined &&
    caps !== undefined &&
    (req.size.width > caps.maxWidth || req.size.height > caps.maxHeight)
  ) {
    throw invalidRequest("size", `${model.id} generates at most ${caps.maxWidth}x${caps.maxHeight}`);
  }
  return model;
}

/** A source whose first event has been read, so routing failures surface before the response starts. */
async function started(source: ImageSource): Promise<ImageSource> {
  const iterator = source.events[Symbol.asyncIterator]();
  const first = await iterator.next();
  async function* rest(): AsyncGenerator<GenerationEvent> {
    try {
      if (first.done === true) return;
      yield first.value;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next())
        yield next.value;
    } finally {
      await iterator.return?.();
    }
  }
  return { ...source, events: rest() };
}

/** The completed image of a source (the non-streamed answer waits for all of them). */
async function completion(source: ImageSource): Promise<StoredImage> {
  for await (const event of source.events) {
    if (event.type === "completed") return event.image;
    if (event.type === "failed") throw new ApiError(event.error);
  }
  throw new ApiError({ status: 502, type: "server_error", message: "the generation ended without an image" });
}

export async function imagesGenerations(c: Context<AppEnv>): Promise<Response> {
  const req = parseImagesRequest(await parseJsonBody(c.req.raw));
  const waitUntil = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
  const deps = generationDeps(c.env, waitUntil);
  const model = await resolveModel(deps.pool, req);
  const release = await acquireGenerationSlot(c.env, c.var.apiKey);
  const controller = new AbortController();
  // The slot is released when the answer ends, however it ends. The release is registered with
  // waitUntil now, while the request is live: once a client has gone, work started from the
  // stream's cancel callback alone is not kept alive, and the slot would stay taken.
  let ended: () => void = () => undefined;
  waitUntil(new Promise<void>((resolve) => (ended = resolve)).then(release));
  const finish = () => {
    controller.abort();
    ended();
  };
  try {
    const context = {
      env: c.env,
      deps,
      model,
      clientRequestId: crypto.randomUUID(),
      signal: controller.signal,
    };
    const sources = await Promise.all(Array.from({ length: req.n }, (_, i) => imageSource(req, i, context)));
    const respond: ResponseContext = {
      req,
      store: deps.store,
      imageUrl: (id) => new URL(`/v1/images/${id}`, c.req.url).toString(),
      createdAt: Math.floor(Date.now() / 1000),
    };
    const headers = new Headers({ "x-sana-cache": sources.every((s) => s.cacheHit) ? "hit" : "miss" });
    if (req.stream) {
      const live = await Promise.all(sources.map(started));
      headers.set("content-type", "text/event-stream; charset=utf-8");
      headers.set("cache-control", "no-cache");
      return new Response(streamBody(finishing(sseParts(live, respond), finish), finish), { headers });
    }
    const images = await Promise.all(sources.map(completion));
    headers.set("content-type", "application/json");
    return new Response(streamBody(finishing(jsonParts(images, respond), finish), finish), { headers });
  } catch (error) {
    finish();
    throw error;
  }
}

/** Runs `finish` once the parts are written (the cancel path runs it too; twice is harmless). */
async function* finishing<T>(parts: AsyncGenerator<T>, finish: () => void): AsyncGenerator<T> {
  try {
    yield* parts;
  } finally {
    finish();
  }
}
