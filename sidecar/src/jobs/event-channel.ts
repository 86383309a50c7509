// An ordered, single-consumer queue of stream events. Producers push values or promises of
// values (a preview still being encoded) and the consumer receives them in push order, so a
// slow encode never reorders the stream. A promise that resolves to undefined is skipped.

type Pending<T> = T | Promise<T | undefined>;

export class EventChannel<T> {
  private readonly items: Pending<T>[] = [];
  private closed = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  /** Items pushed but not yet taken: lets producers shed optional events when the reader lags. */
  get backlog(): number {
    return this.items.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(item: Pending<T>): void {
    if (this.closed) return;
    // A rejected promise must not go unhandled while it waits its turn; the reader sees it.
    if (item instanceof Promise) item.catch(() => undefined);
    this.items.push(item);
    this.signal();
  }

  /** Ends the stream after the items already pushed; `error` is thrown to the reader after them. */
  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (error !== undefined) this.failure = { error };
    this.signal();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        const value = await item;
        if (value !== undefined) yield value;
        continue;
      }
      if (this.closed) {
        if (this.failure !== undefined) throw this.failure.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
