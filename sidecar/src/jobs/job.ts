import { create } from "@bufbuild/protobuf";
import { type Code, ConnectError } from "@connectrpc/connect";
import { type GenerateResponse, GenerateResponseSchema, type Stage } from "@sana-edge/proto";
import type { Logger } from "../ops/log.js";
import type { JobSpec } from "../service/validate.js";
import { EventChannel } from "./event-channel.js";

// One admitted Generate call: its validated spec, the events its stream carries, and the
// state the queue and the engine worker move it through. The stream always ends with a
// `status` event; after that nothing more is sent.

export type JobState = "queued" | "running" | "done";

/** gRPC's OK, which connect-es's Code (errors only) leaves out. */
export const OK = 0;
export type StatusCode = Code | typeof OK;

/** What the stream reported last; the terminal status of a settled job. */
export interface JobOutcome {
  readonly code: StatusCode;
  readonly message: string;
}

export class Job {
  readonly events = new EventChannel<GenerateResponse>();
  readonly admittedAt = performance.now();
  private readonly stop = new AbortController();
  private currentState: JobState = "queued";
  private started = 0;
  private settled: JobOutcome | undefined;
  private readonly settleListeners: ((outcome: JobOutcome) => void)[] = [];

  constructor(
    readonly id: string,
    readonly spec: JobSpec,
    readonly log: Logger,
  ) {}

  get state(): JobState {
    return this.currentState;
  }

  /** Aborts when the job is cancelled (caller gone, deadline, drain): the worker drops it. */
  get cancelled(): AbortSignal {
    return this.stop.signal;
  }

  get outcome(): JobOutcome | undefined {
    return this.settled;
  }

  /** Milliseconds since the job left the queue (0 while queued). */
  get elapsedMs(): number {
    return this.started === 0 ? 0 : Math.round(performance.now() - this.started);
  }

  onSettled(listener: (outcome: JobOutcome) => void): void {
    this.settleListeners.push(listener);
  }

  markRunning(): void {
    if (this.currentState !== "queued") return;
    this.currentState = "running";
    this.started = performance.now();
  }

  emit(response: GenerateResponse | Promise<GenerateResponse | undefined>): void {
    if (this.currentState !== "done") this.events.push(response);
  }

  progress(stage: Stage, step: number): void {
    const value = { step, totalSteps: this.spec.steps, elapsedMs: this.elapsedMs, stage };
    this.emit(create(GenerateResponseSchema, { event: { case: "progress", value } }));
  }

  /** The final image's events were pushed: the stream ends with OK after them. */
  succeed(): void {
    this.settle({ code: OK, message: "" });
  }

  /** Ends the job with an error status; drops it from the queue or the engine batch. */
  cancel(code: Code, message: string, retryAfterMs = 0): void {
    this.settle({ code, message }, retryAfterMs);
  }

  private settle(outcome: JobOutcome, retryAfterMs = 0): void {
    if (this.settled !== undefined) return;
    this.settled = outcome;
    const status = { code: outcome.code, message: outcome.message, retryAfterMs };
    this.events.push(create(GenerateResponseSchema, { event: { case: "status", value: status } }));
    this.currentState = "done";
    this.events.close(outcome.code === OK ? undefined : new ConnectError(outcome.message, outcome.code));
    if (outcome.code !== OK) this.stop.abort(new ConnectError(outcome.message, outcome.code));
    for (const listener of this.settleListeners) listener(outcome);
  }
}
