import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

// A step of the real model on a GPU is tens of milliseconds; on a CPU or for a huge image it takes seconds.
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const GENERATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
const QUEUE_WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const BATCH_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16];

/**
 * The sidecar's Prometheus metrics. Each instance owns its registry (never prom-client's global one), so
 * tests and several servers in one process do not collide.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly queueDepth = this.gauge("sana_queue_depth", "Requests waiting in the queue.", ["model"]);
  private readonly activeJobs = this.gauge("sana_active_jobs", "Generations being denoised now.", ["model"]);
  private readonly stepSeconds = this.histogram(
    "sana_denoise_step_seconds",
    "Wall time of one denoising step of a batch.",
    ["model"],
    STEP_BUCKETS,
  );
  private readonly generationSeconds = this.histogram(
    "sana_generation_seconds",
    "Time from acceptance to terminal status.",
    ["model", "outcome"],
    GENERATION_BUCKETS,
  );
  private readonly queueWaitSeconds = this.histogram(
    "sana_queue_wait_seconds",
    "Time a request waited in the queue before its batch started.",
    ["model"],
    QUEUE_WAIT_BUCKETS,
  );
  private readonly batchSize = this.histogram(
    "sana_batch_size",
    "Requests denoised together in one batch.",
    ["model"],
    BATCH_BUCKETS,
  );
  private readonly requests = this.counter("sana_requests_total", "RPCs finished, by gRPC status.", [
    "method",
    "code",
  ]);
  private readonly steps = this.counter("sana_denoise_steps_total", "Denoising steps run.", ["model"]);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  setQueueDepth(model: string, depth: number): void {
    this.queueDepth.set({ model }, depth);
  }

  setActiveJobs(model: string, jobs: number): void {
    this.activeJobs.set({ model }, jobs);
  }

  observeStep(model: string, seconds: number): void {
    this.stepSeconds.observe({ model }, seconds);
  }

  /** outcome is the terminal status, e.g. "succeeded", "failed", "cancelled". */
  observeGeneration(model: string, outcome: string, seconds: number): void {
    this.generationSeconds.observe({ model, outcome }, seconds);
  }

  observeQueueWait(model: string, seconds: number): void {
    this.queueWaitSeconds.observe({ model }, seconds);
  }

  observeBatch(model: string, size: number): void {
    this.batchSize.observe({ model }, size);
  }

  /** code is a google.rpc.Code number; 0 is OK. */
  countRequest(method: string, code: number): void {
    this.requests.inc({ method, code: codeName(code) });
  }

  countStep(model: string, steps = 1): void {
    this.steps.inc({ model }, steps);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}

/**
 * "ok", "invalid_argument", "resource_exhausted", ... Connect's Code has no OK member and spells 1 "Canceled",
 * so that one comes out as "canceled" (Connect's spelling, not gRPC's CANCELLED). Numbers outside the enum
 * count as "unknown", as gRPC clients treat them.
 */
export function codeName(code: number): string {
  if (code === 0) return "ok";
  const name: string | undefined = Code[code];
  if (name === undefined) return "unknown";
  return name.replace(/(?<=[a-z])(?=[A-Z])/g, "_").toLowerCase();
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A separate plain HTTP port for Prometheus, so scraping never goes through the gRPC server. */
export async function serveMetrics(
  metrics: SidecarMetrics,
  options: { host: string; port: number },
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => void answer(metrics, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

async function answer(
  metrics: SidecarMetrics,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (path !== "/metrics") return send(res, 404, "text/plain", "not found\n");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return send(res, 405, "text/plain", "method not allowed\n");
  }
  try {
    send(res, 200, metrics.contentType, await metrics.render(), req.method === "HEAD");
  } catch (error) {
    send(res, 500, "text/plain", `${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headOnly = false,
): void {
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}
