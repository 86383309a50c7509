import { DurableObject } from "cloudflare:workers";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { GenerateRequestSchema } from "@sana-edge/proto";
import type { Env } from "../env.js";
import { generationDeps } from "../generation/deps.js";
import type { GenerationEvent } from "../generation/events.js";
import { failedEvent } from "../generation/failure.js";
import { runGeneration } from "../generation/run-generation.js";
import type { RouteRequest } from "../routing/index.js";

// One Durable Object per cache key: identical seeded requests that arrive while the image is
// being made share one generation. The first caller starts it; every caller (late ones get
// the events so far replayed) reads the same event lines; when the last caller leaves before
// the end, the generation is cancelled. The result is recorded under the key before anyone is
// told it is complete, so later requests are cache hits.

/** What the worker sends: the sidecar request (proto JSON), its route and the cache key. */
export interface CoalesceRequest {
  readonly key: string;
  readonly request: JsonValue;
  readonly route: RouteRequest;
}

const encoder = new TextEncoder();
const line = (event: GenerationEvent) => encoder.encode(`${JSON.stringify(event)}\n`);

class SharedGeneration {
  private readonly backlog: Uint8Array[] = [];
  private readonly readers = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  private finished = false;
  readonly controller = new AbortController();

  constructor(private readonly onIdle: () => void) {}

  /** A new reader: everything sent so far, then what follows. */
  subscribe(): ReadableStream<Uint8Array> {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    for (const chunk of this.backlog) void writer.write(chunk).catch(() => undefined);
    if (this.finished) {
      void writer.close().catch(() => undefined);
      return readable;
    }
    this.readers.add(writer);
    // The reader's side is cancelled when its caller goes away.
    writer.closed.catch(() => this.leave(writer));
    return readable;
  }

  send(event: GenerationEvent): void {
    const chunk = line(event);
    this.backlog.push(chunk);
    for (const writer of this.readers) writer.write(chunk).catch(() => this.leave(writer));
  }

  finish(): void {
    this.finished = true;
    for (const writer of this.readers) void writer.close().catch(() => undefined);
    this.readers.clear();
    this.onIdle();
  }

  private leave(writer: WritableStreamDefaultWriter<Uint8Array>): void {
    if (!this.readers.delete(writer) || this.readers.size > 0 || this.finished) return;
    this.controller.abort(new Error("every caller left"));
  }
}

export class Coalescer extends DurableObject<Env> {
  private current: SharedGeneration | undefined;

  override async fetch(request: Request): Promise<Response> {
    const body = (await request.json()) as CoalesceRequest;
    if (this.current === undefined) {
      const shared = new SharedGeneration(() => {
        if (this.current === shared) this.current = undefined;
      });
      this.current = shared;
      this.ctx.waitUntil(this.run(shared, body));
    }
    return new Response(this.current.subscribe(), { headers: { "content-type": "application/x-ndjson" } });
  }

  private async run(shared: SharedGeneration, { key, request, route }: CoalesceRequest): Promise<void> {
    const deps = generationDeps(this.env, (work) => this.ctx.waitUntil(work));
    try {
      const earlier = await deps.store.findResult(key);
      if (earlier !== undefined) {
        shared.send({ type: "completed", image: earlier });
        return;
      }
      const generateRequest = fromJson(GenerateRequestSchema, request);
      for await (const event of runGeneration(generateRequest, route, deps, shared.controller.signal)) {
        if (event.type === "completed") await deps.store.putResult(key, event.image);
        shared.send(event);
      }
    } catch (error) {
      if (!shared.controller.signal.aborted) shared.send(failedEvent(error));
    } finally {
      shared.finish();
    }
  }
}
