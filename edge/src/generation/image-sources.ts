import { create, toJson } from "@bufbuild/protobuf";
import { GenerateRequestSchema, type ModelInfo } from "@sana-edge/proto";
import { type ImagesRequest, toGenerateRequestInit } from "../api/images-request.js";
import { cacheKey } from "../cache/cache-key.js";
import type { CoalesceRequest } from "../coalesce/coalescer.js";
import type { Env } from "../env.js";
import type { RouteRequest } from "../routing/index.js";
import type { GenerationEvent } from "./events.js";
import { errorOf } from "./failure.js";
import { type GenerationDeps, runGeneration } from "./run-generation.js";

// Where each of a request's n images comes from: a cached result (no sidecar touched), the
// coalescing Durable Object of its cache key (seeded, not cached yet), or a generation of its
// own in this isolate (no seed: nothing to share or reuse).

export interface ImageSource {
  readonly index: number;
  readonly cacheHit: boolean;
  readonly events: AsyncIterable<GenerationEvent>;
}

export interface SourceContext {
  readonly env: Env;
  readonly deps: GenerationDeps;
  readonly model: ModelInfo;
  readonly clientRequestId: string;
  readonly signal: AbortSignal;
}

async function* once(event: GenerationEvent): AsyncGenerator<GenerationEvent> {
  yield event;
}

/** The events of a coalesced generation, read as JSON lines from its Durable Object. */
async function* coalesced(
  env: Env,
  body: CoalesceRequest,
  signal: AbortSignal,
): AsyncGenerator<GenerationEvent> {
  const stub = env.COALESCER.get(env.COALESCER.idFromName(body.key));
  const response = await stub.fetch("https://coalescer.internal/", {
    method: "POST",
    body: JSON.stringify(body),
    signal,
  });
  if (response.body === null) throw new Error("the coalescer answered without a body");
  const lines = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  try {
    for (;;) {
      const { done, value } = await lines.read();
      if (done) break;
      pending += value;
      let end = pending.indexOf("\n");
      while (end >= 0) {
        const event = JSON.parse(pending.slice(0, end)) as GenerationEvent;
        pending = pending.slice(end + 1);
        if (event.type === "failed") throw errorOf(event);
        yield event;
        end = pending.indexOf("\n");
      }
    }
  } finally {
    await lines.cancel().catch(() => undefined);
  }
}

export async function imageSource(
  req: ImagesRequest,
  index: number,
  context: SourceContext,
): Promise<ImageSource> {
  const { env, deps, model, signal } = context;
  const init = toGenerateRequestInit(req, index, {
    defaultSteps: model.capabilities?.defaultSteps ?? 20,
    model: model.id,
    clientRequestId: context.clientRequestId,
  });
  const request = create(GenerateRequestSchema, init);
  const native = model.capabilities?.nativeResolution ?? 1024;
  const route: RouteRequest = {
    model: model.id,
    width: req.size?.width ?? native,
    height: req.size?.height ?? native,
    promptKey: req.prompt,
  };
  const capabilities = model.capabilities;
  const key =
    capabilities === undefined
      ? undefined
      : await cacheKey(req, index, { id: model.id, revision: model.revision, capabilities });
  if (key === undefined)
    return { index, cacheHit: false, events: runGeneration(request, route, deps, signal) };
  const earlier = await deps.store.findResult(key);
  if (earlier !== undefined)
    return { index, cacheHit: true, events: once({ type: "completed", image: earlier }) };
  const body: CoalesceRequest = { key, request: toJson(GenerateRequestSchema, request), route };
  return { index, cacheHit: false, events: coalesced(env, body, signal) };
}
