import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type GenerateRequest,
  type GenerateResponse,
  GetLoadResponseSchema,
  type ImageService,
  ListModelsResponseSchema,
  type ModelInfo,
} from "@sana-edge/proto";
import type { EngineWorker } from "../jobs/engine-worker.js";
import { Job, type JobOutcome } from "../jobs/job.js";
import { QueueFullError } from "../jobs/job-queue.js";
import type { Logger } from "../ops/log.js";
import { codeName, type SidecarMetrics } from "../ops/metrics.js";
import { validateGenerateRequest } from "./validate.js";

// sana.v1.ImageService: admission (draining, validation, queue room), the job's event stream,
// and the reports the edge routes by. Engine work lives in EngineWorker, one per model.

/** Trailer of RESOURCE_EXHAUSTED / UNAVAILABLE refusals: when a retry is likely to be admitted. */
export const RETRY_AFTER_TRAILER = "sana-retry-after-ms";
/** Retry hint while draining: a replacement instance takes a while to come up. */
const DRAINING_RETRY_AFTER_MS = 5000;

export interface GenerationServiceOptions {
  readonly workers: readonly EngineWorker[];
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly instanceId: string;
  readonly device: string;
}

function abortCode(reason: unknown): Code {
  return reason instanceof ConnectError ? reason.code : Code.Canceled;
}

export class GenerationService {
  private draining = false;
  private readonly openJobs = new Set<Job>();
  private settledWaiters: (() => void)[] = [];

  constructor(private readonly options: GenerationServiceOptions) {}

  get models(): ModelInfo[] {
    return this.options.workers.map((worker) => worker.model);
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async *generate(request: GenerateRequest, context: HandlerContext): AsyncGenerator<GenerateResponse> {
    if (this.draining)
      throw this.refusal("the sidecar is shutting down", Code.Unavailable, DRAINING_RETRY_AFTER_MS);
    const spec = validateGenerateRequest(request, this.models);
    const worker = this.workerFor(spec.model.id);
    const id = randomUUID();
    const job = new Job(
      id,
      spec,
      this.options.log.child({ job_id: id, client_request_id: spec.clientRequestId }),
    );
    try {
      worker.submit(job);
    } catch (error) {
      if (!(error instanceof QueueFullError)) throw error;
      throw this.refusal(
        `${error.message}; retry later or elsewhere`,
        Code.ResourceExhausted,
        worker.retryAfterMs(),
      );
    }
    this.track(job);
    const onAbort = () =>
      job.cancel(abortCode(context.signal.reason), "the call was cancelled or its deadline passed");
    context.signal.addEventListener("abort", onAbort, { once: true });
    try {
      yield* job.events;
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      // The reader stopped early: the caller is gone, so the engine should stop too.
      job.cancel(Code.Canceled, "the caller went away");
    }
  }

  listModels() {
    return create(ListModelsResponseSchema, { models: this.models });
  }

  getLoad() {
    const { workers, instanceId, device } = this.options;
    return create(GetLoadResponseSchema, {
      instanceId,
      queueDepth: sum(workers, (w) => w.queue.depth),
      activeJobs: sum(workers, (w) => w.activeJobs),
      capacity: sum(workers, (w) => w.capacity),
      maxQueueDepth: sum(workers, (w) => w.queue.maxDepth),
      estimatedWaitMs: Math.min(...workers.map((w) => w.estimatedWaitMs(w.queue.depth))),
      draining: this.draining,
      models: this.models,
      device,
    });
  }

  /**
   * Refuses new work, lets admitted jobs finish for up to `graceMs`, then cancels the rest
   * with UNAVAILABLE. Resolves once every job has sent its terminal status.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const { log } = this.options;
    log.info({ openJobs: this.openJobs.size, graceMs }, "draining");
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.allSettled(), graceOver]);
    clearTimeout(timer);
    if (this.openJobs.size > 0) {
      log.warn({ openJobs: this.openJobs.size }, "grace period over; cancelling the remaining jobs");
      for (const worker of this.options.workers) {
        worker.cancelAll(
          Code.Unavailable,
          "the sidecar shut down before the job finished",
          DRAINING_RETRY_AFTER_MS,
        );
      }
    }
    await this.allSettled();
  }

  private workerFor(modelId: string): EngineWorker {
    const worker = this.options.workers.find((w) => w.model.id === modelId);
    if (worker === undefined) throw new ConnectError(`no engine for model ${modelId}`, Code.Internal);
    return worker;
  }

  private refusal(message: string, code: Code, retryAfterMs: number): ConnectError {
    return new ConnectError(message, code, { [RETRY_AFTER_TRAILER]: String(retryAfterMs) });
  }

  private track(job: Job): void {
    this.openJobs.add(job);
    job.log.info({ model: job.spec.model.id, steps: job.spec.steps, size: job.spec.output }, "job accepted");
    job.onSettled((outcome) => this.settled(job, outcome));
  }

  private settled(job: Job, outcome: JobOutcome): void {
    this.openJobs.delete(job);
    const seconds = (performance.now() - job.admittedAt) / 1000;
    const code = codeName(outcome.code);
    this.options.metrics.observeGeneration(job.spec.model.id, code, seconds);
    job.log.info({ code, message: outcome.message, seconds }, "job finished");
    if (this.openJobs.size > 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private allSettled(): Promise<void> {
    if (this.openJobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

/** The connect-es implementation of sana.v1.ImageService over `service`. */
export function imageService(service: GenerationService): ServiceImpl<typeof ImageService> {
  return {
    generate: (request, context) => service.generate(request, context),
    listModels: () => service.listModels(),
    getLoad: () => service.getLoad(),
  };
}
