import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { GenerateResponseSchema, type ModelInfo, Stage } from "@sana-edge/proto";
import {
  type BatchProgress,
  type GeneratedImage,
  GenerationCancelledError,
  type GenerationStage,
  type TextToImage,
} from "../engine/text-to-image.js";
import type { Logger } from "../ops/log.js";
import type { SidecarMetrics } from "../ops/metrics.js";
import { batchKey, engineSampler } from "../service/validate.js";
import { finalImageResponses, previewEvent } from "./image-events.js";
import type { Job } from "./job.js";
import { JobQueue } from "./job-queue.js";

// Runs the jobs of one model on its engine: one batch at a time, built from the queue when
// the engine frees up. Jobs cancelled while they run leave the batch at once; when none is
// left the engine is stopped before its next step. Image encoding and streaming happen after
// the engine is handed to the next batch.

export interface EngineWorkerOptions {
  readonly maxQueueDepth: number;
  readonly maxBatchSize: number;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
}

/** Previews waiting to be sent beyond which new ones are skipped: a slow reader gets fewer, not later, frames. */
const MAX_PREVIEW_BACKLOG = 8;
/** Weight of the newest batch in the running average of batch durations. */
const EWMA_WEIGHT = 0.3;
/** Retry hint for a full queue before any batch has been timed. */
const DEFAULT_RETRY_AFTER_MS = 1000;

const STAGES: Record<GenerationStage, Stage> = {
  encoding_prompt: Stage.ENCODING_PROMPT,
  denoising: Stage.DENOISING,
  decoding: Stage.DECODING,
};

export class EngineWorker {
  readonly queue: JobQueue;
  private running: readonly Job[] = [];
  private runningSince = 0;
  private averageBatchMs: number | undefined;
  private readonly positions = new Map<Job, number>();
  private pumping = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly model: ModelInfo,
    private readonly engine: TextToImage,
    private readonly options: EngineWorkerOptions,
  ) {
    if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1) {
      throw new RangeError(`maxBatchSize must be ≥ 1, got ${options.maxBatchSize}`);
    }
    this.queue = new JobQueue(options.maxQueueDepth);
  }

  get activeJobs(): number {
    return this.running.length;
  }

  get capacity(): number {
    return this.options.maxBatchSize;
  }

  get idle(): boolean {
    return !this.pumping && this.queue.depth === 0;
  }

  /** Milliseconds until a job at `position` would start, from the running average; 0 when unknown. */
  estimatedWaitMs(position: number): number {
    const average = this.averageBatchMs;
    if (average === undefined) return 0;
    const current =
      this.running.length > 0 ? Math.max(average - (performance.now() - this.runningSince), 0) : 0;
    return Math.round(current + Math.floor(position / this.options.maxBatchSize) * average);
  }

  /** How long a refused caller should wait: until the running batch is likely done. */
  retryAfterMs(): number {
    return Math.max(this.estimatedWaitMs(0), this.averageBatchMs === undefined ? DEFAULT_RETRY_AFTER_MS : 1);
  }

  /** Admits `job` (throws QueueFullError), sends its Accepted event and starts it when its turn comes. */
  submit(job: Job): void {
    const position = this.queue.add(job);
    this.positions.set(job, position);
    const { spec } = job;
    const accepted = {
      jobId: job.id,
      queuePosition: position,
      seed: spec.seed,
      model: spec.model.id,
      modelRevision: spec.model.revision,
      width: spec.output.width,
      height: spec.output.height,
      steps: spec.steps,
      guidanceScale: spec.guidanceScale,
      sampler: spec.sampler,
    };
    job.emit(create(GenerateResponseSchema, { event: { case: "accepted", value: accepted } }));
    job.cancelled.addEventListener("abort", () => this.dropQueued(job), { once: true });
    this.updateGauges();
    queueMicrotask(() => void this.pump());
  }

  /** Cancels every queued and running job (drain after its grace period). */
  cancelAll(code: Code, message: string, retryAfterMs = 0): void {
    for (const job of [...this.queue.jobs, ...this.running]) job.cancel(code, message, retryAfterMs);
  }

  /** Resolves once nothing is queued or running. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private dropQueued(job: Job): void {
    if (!this.queue.remove(job)) return;
    this.positions.delete(job);
    this.announcePositions();
    this.updateGauges();
    this.notifyIfIdle();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const batch = this.queue.takeBatch(this.options.maxBatchSize, (job) => batchKey(job.spec));
        if (batch.length === 0) break;
        for (const job of batch) this.positions.delete(job);
        this.announcePositions();
        await this.runBatch(batch);
      }
    } finally {
      this.pumping = false;
      this.notifyIfIdle();
    }
  }

  private notifyIfIdle(): void {
    if (!this.idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private announcePositions(): void {
    this.queue.jobs.forEach((job, position) => {
      if (this.positions.get(job) === position) return;
      this.positions.set(job, position);
      const value = { position, estimatedWaitMs: this.estimatedWaitMs(position) };
      job.emit(create(GenerateResponseSchema, { event: { case: "queued", value } }));
    });
  }

  private updateGauges(): void {
    const { metrics } = this.options;
    metrics.setQueueDepth(this.model.id, this.queue.depth);
    metrics.setActiveJobs(this.model.id, this.running.length);
  }

  private async runBatch(jobs: readonly Job[]): Promise<void> {
    const live = new Set(jobs);
    const engineStop = new AbortController();
    const leave = (job: Job) => {
      live.delete(job);
      if (live.size === 0) engineStop.abort();
    };
    const listeners = jobs.map((job) => {
      const listener = () => leave(job);
      job.cancelled.addEventListener("abort", listener, { once: true });
      return [job, listener] as const;
    });
    this.startBatch(jobs);
    const started = performance.now();
    try {
      await this.generate(jobs, live, engineStop.signal);
    } catch (error) {
      this.failBatch(live, error);
    } finally {
      for (const [job, listener] of listeners) job.cancelled.removeEventListener("abort", listener);
      this.finishBatch(performance.now() - started);
    }
  }

  private startBatch(jobs: readonly Job[]): void {
    const { metrics, log } = this.options;
    this.running = jobs;
    this.runningSince = performance.now();
    metrics.observeBatch(this.model.id, jobs.length);
    for (const job of jobs) {
      job.markRunning();
      metrics.observeQueueWait(this.model.id, (performance.now() - job.admittedAt) / 1000);
    }
    log.info({ jobs: jobs.map((j) => j.id), model: this.model.id }, "batch started");
    this.updateGauges();
  }

  private finishBatch(elapsedMs: number): void {
    this.averageBatchMs =
      this.averageBatchMs === undefined
        ? elapsedMs
        : this.averageBatchMs + EWMA_WEIGHT * (elapsedMs - this.averageBatchMs);
    this.running = [];
    this.updateGauges();
  }

  private failBatch(live: ReadonlySet<Job>, error: unknown): void {
    if (error instanceof GenerationCancelledError) {
      this.options.log.info(
        { stepsCompleted: error.stepsCompleted },
        "engine stopped: every job of the batch left",
      );
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.options.log.error({ err: error, jobs: [...live].map((j) => j.id) }, "engine failed");
    for (const job of live) job.cancel(Code.Internal, `the engine failed: ${message}`);
  }

  private async generate(jobs: readonly Job[], live: ReadonlySet<Job>, signal: AbortSignal): Promise<void> {
    const [first] = jobs;
    if (first === undefined) return;
    const { spec } = first;
    let lastStep = performance.now();
    await this.engine.generateBatch(
      {
        width: spec.generation.width,
        height: spec.generation.height,
        steps: spec.steps,
        guidanceScale: spec.guidanceScale,
        sampler: engineSampler(spec.sampler),
        pagScale: spec.pagScale,
        items: jobs.map((job) => ({
          prompt: job.spec.prompt,
          negativePrompt: job.spec.negativePrompt,
          seed: job.spec.seed,
          useComplexHumanInstruction: job.spec.useComplexHumanInstruction,
        })),
      },
      {
        signal,
        onProgress: (progress) => {
          if (progress.stage === "denoising") {
            const now = performance.now();
            this.options.metrics.observeStep(this.model.id, (now - lastStep) / 1000);
            this.options.metrics.countStep(this.model.id);
            lastStep = now;
          }
          jobs.forEach((job, index) => {
            if (live.has(job)) this.reportProgress(job, index, progress);
          });
        },
        onImage: (index, image) => {
          const job = jobs[index];
          if (job !== undefined && live.has(job)) void this.deliver(job, image);
        },
      },
    );
  }

  private reportProgress(job: Job, index: number, progress: BatchProgress): void {
    job.progress(STAGES[progress.stage], progress.step);
    const interval = job.spec.previewInterval;
    const { denoised } = progress;
    if (denoised === undefined || interval === 0 || progress.step % interval !== 0) return;
    if (job.events.backlog > MAX_PREVIEW_BACKLOG) return;
    job.emit(
      this.engine
        .preview(denoised, progress.latentShape, index)
        .then((rgb) => previewEvent(rgb, job.spec, progress.step))
        .catch((error: unknown) => {
          job.log.warn({ err: error }, "preview failed; skipped");
          return undefined;
        }),
    );
  }

  private async deliver(job: Job, image: GeneratedImage): Promise<void> {
    job.progress(Stage.ENCODING_IMAGE, job.spec.steps);
    try {
      const events = await finalImageResponses(image, job.spec);
      for (const response of events) job.emit(response);
      job.succeed();
    } catch (error) {
      job.log.error({ err: error }, "encoding the final image failed");
      job.cancel(
        Code.Internal,
        `encoding the image failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
