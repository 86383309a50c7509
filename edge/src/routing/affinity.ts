// Prompt affinity: the host that last served a prompt holds its text embedding in its cache (the Gemma
// encode is a large part of a short generation), so the next request with the same prompt is cheaper
// there. Remembered per isolate in a bounded LRU: a Map iterates in insertion order, so re-inserting on
// every hit keeps the least recently used entry first, and that is the one evicted.

export const DEFAULT_AFFINITY_ENTRIES = 4096;

export class AffinityLru {
  private readonly entries = new Map<string, string>();

  constructor(private readonly maxEntries: number = DEFAULT_AFFINITY_ENTRIES) {
    if (!(maxEntries >= 1)) throw new RangeError(`maxEntries must be >= 1, got ${maxEntries}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The host that last served this key, refreshing its recency. */
  get(key: string): string | undefined {
    const hostId = this.entries.get(key);
    if (hostId !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hostId);
    }
    return hostId;
  }

  set(key: string, hostId: string): void {
    this.entries.delete(key);
    this.entries.set(key, hostId);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
