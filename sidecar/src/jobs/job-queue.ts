import type { Job } from "./job.js";

// The bounded wait list in front of one engine. Admission is refused at maxDepth so that a
// burst turns into fast RESOURCE_EXHAUSTED answers (the edge can route elsewhere) instead of
// unbounded waits. Batches are formed from the oldest job and the compatible ones behind it.

export class QueueFullError extends Error {
  override readonly name = "QueueFullError";
  constructor(readonly depth: number) {
    super(`the queue is full (${depth} jobs waiting)`);
  }
}

export class JobQueue {
  private readonly waiting: Job[] = [];

  constructor(readonly maxDepth: number) {
    if (!Number.isInteger(maxDepth) || maxDepth < 0)
      throw new RangeError(`maxDepth must be ≥ 0, got ${maxDepth}`);
  }

  get depth(): number {
    return this.waiting.length;
  }

  /** Waiting jobs, oldest first; a job's index is its queue position. */
  get jobs(): readonly Job[] {
    return this.waiting;
  }

  /** Appends `job` and returns its position; throws QueueFullError at maxDepth. */
  add(job: Job): number {
    if (this.waiting.length >= this.maxDepth) throw new QueueFullError(this.waiting.length);
    this.waiting.push(job);
    return this.waiting.length - 1;
  }

  remove(job: Job): boolean {
    const index = this.waiting.indexOf(job);
    if (index < 0) return false;
    this.waiting.splice(index, 1);
    return true;
  }

  /**
   * Removes and returns the oldest job plus up to `max - 1` later jobs with the same key,
   * oldest first. Later jobs may overtake incompatible ones: they would otherwise wait for a
   * batch of their own while this one runs at no extra cost per image.
   */
  takeBatch(max: number, key: (job: Job) => string): Job[] {
    const [head] = this.waiting;
    if (head === undefined) return [];
    const headKey = key(head);
    const batch = this.waiting.filter((job) => key(job) === headKey).slice(0, Math.max(1, max));
    for (const job of batch) this.remove(job);
    return batch;
  }
}
