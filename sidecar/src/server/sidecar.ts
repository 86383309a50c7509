import { availableParallelism, hostname } from "node:os";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health, ImageService, HealthCheckResponse_ServingStatus as ServingStatus } from "@sana-edge/proto";
import { loadServedModel, type ModelSource } from "../engine/served-model.js";
import { EngineWorker } from "../jobs/engine-worker.js";
import { createLogger, type Logger } from "../ops/log.js";
import { SidecarMetrics, serveMetrics } from "../ops/metrics.js";
import { requireSharedSecret } from "../service/auth.js";
import { HealthState, healthService } from "../service/health.js";
import { GenerationService, imageService } from "../service/image-service.js";
import { rejectMalformedRequests } from "../service/malformed-requests.js";
import { countRequests } from "../service/request-metrics.js";
import { listen, type RunningServer, type TlsFiles } from "./listen.js";

// The sidecar process: models loaded, one engine worker each, sana.v1.ImageService and
// grpc.health.v1 on one port (gRPC, gRPC-Web and Connect), metrics on another.

export interface SidecarConfig {
  readonly models: readonly ModelSource[];
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** PEM files: TLS with ALPN (h2 and http/1.1) instead of the plain-text port of local runs. */
  readonly tls?: TlsFiles;
  /** The shared secret the edge sends; undefined only with an explicit opt-out (local development). */
  readonly secret: string | undefined;
  /** Also accepted while the secret is rotated: the one the edge may still send. */
  readonly previousSecret?: string;
  readonly maxQueueDepth: number;
  readonly maxBatchSize: number;
  /** How long a drain lets admitted jobs finish before cancelling them. */
  readonly drainGraceMs: number;
  /** Port of the Prometheus endpoint (GET /metrics); undefined: not served. */
  readonly metricsPort?: number;
  readonly log?: Logger;
}

export interface Sidecar {
  readonly url: string;
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly metrics: SidecarMetrics;
  readonly service: GenerationService;
  /** Refuses new work, finishes or cancels admitted jobs, then closes the listeners. */
  drain(): Promise<void>;
  /** Closes at once, cancelling whatever runs. */
  close(): Promise<void>;
}

/** After a drain, how long open streams (image chunks still in flight, health watches) may take to end. */
const CLOSE_GRACE_MS = 10_000;

export const DEFAULT_SIDECAR_CONFIG = {
  host: "127.0.0.1",
  port: 50051,
  maxQueueDepth: 16,
  maxBatchSize: 4,
  drainGraceMs: 30_000,
} as const;

export async function startSidecar(config: SidecarConfig): Promise<Sidecar> {
  const log = config.log ?? createLogger();
  if (config.models.length === 0) throw new RangeError("the sidecar needs at least one model folder");
  const metrics = new SidecarMetrics();
  const started = Date.now();
  const served = [];
  for (const source of config.models) {
    log.info({ dir: source.dir }, "loading model");
    served.push(await loadServedModel(source));
  }
  const workers = served.map(
    ({ info, engine }) =>
      new EngineWorker(info, engine, {
        maxQueueDepth: config.maxQueueDepth,
        maxBatchSize: config.maxBatchSize,
        metrics,
        log: log.child({ model: info.id }),
      }),
  );
  const service = new GenerationService({
    workers,
    metrics,
    log,
    instanceId: `${hostname()}-${started}`,
    device: `cpu (${availableParallelism()} threads)`,
  });
  const health = new HealthState([ImageService.typeName]);
  const interceptors = [
    countRequests(metrics),
    ...(config.secret === undefined
      ? []
      : [
          requireSharedSecret([
            config.secret,
            ...(config.previousSecret === undefined ? [] : [config.previousSecret]),
          ]),
        ]),
    rejectMalformedRequests(),
  ];
  if (config.secret === undefined) log.warn("no shared secret configured: any caller may use this sidecar");
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(ImageService, imageService(service));
      router.service(Health, healthService(health));
    },
    interceptors,
    // Responses are mostly PNG/JPEG/WebP bytes, which do not compress: gzip would only burn CPU
    // (~20 ms per 512² PNG) and requests are tiny.
    acceptCompression: [],
  });
  const server = await listen(handler, {
    host: config.host,
    port: config.port,
    ...(config.tls === undefined ? {} : { tls: config.tls }),
  });
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await serveMetrics(metrics, { host: config.host, port: config.metricsPort });
  health.setAll(ServingStatus.SERVING);
  log.info(
    { url: server.url, models: service.models.map((m) => m.id), metricsPort: metricsServer?.port },
    "sidecar ready",
  );

  const closeAll = async (server: RunningServer, force: boolean) => {
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => resolve(server.close(true)), force ? 0 : CLOSE_GRACE_MS);
    });
    await Promise.race([server.close(force), forced]);
    clearTimeout(timer);
    await metricsServer?.close();
  };
  return {
    url: server.url,
    port: server.port,
    metricsPort: metricsServer?.port,
    metrics,
    service,
    async drain() {
      health.setAll(ServingStatus.NOT_SERVING);
      await service.drain(config.drainGraceMs);
      await closeAll(server, false);
      log.info("drained");
    },
    async close() {
      health.setAll(ServingStatus.NOT_SERVING);
      const stopping = service.drain(0);
      await closeAll(server, true);
      await stopping;
    },
  };
}
