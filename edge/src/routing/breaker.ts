// A circuit breaker per sidecar: a host that keeps failing is skipped for a cool-down instead of costing
// every request a failed attempt and a failover. The cool-down doubles each time the host fails again
// right after one (a host that is down stays mostly skipped), up to a cap (so it is retried within a
// minute once it is back). After a cool-down the host is half-open: one trial request at a time may go
// there; a success closes the breaker, a failure opens it again for twice as long.

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly threshold?: number;
  /** First cool-down (ms). */
  readonly baseCooldownMs?: number;
  /** Longest cool-down (ms). */
  readonly maxCooldownMs?: number;
  /**
   * How long a half-open trial stays claimed without an outcome (ms). The caller is handed the host as
   * one of several candidates and may never try it (an earlier one succeeded), or its isolate may die
   * mid-request; after this long another request may be the trial.
   */
  readonly trialLeaseMs?: number;
}

export const BREAKER_DEFAULTS = {
  threshold: 3,
  baseCooldownMs: 5_000,
  maxCooldownMs: 60_000,
  trialLeaseMs: 30_000,
} as const satisfies Required<BreakerOptions>;

export class CircuitBreaker {
  private readonly options: Required<BreakerOptions>;
  private failures = 0;
  /** Times opened since the last success; sets the cool-down length. */
  private opens = 0;
  /** End of the current cool-down (ms); meaningful while opens > 0. */
  private openUntil = 0;
  /** When the current half-open trial was handed out, if one is out. */
  private trialSince: number | undefined;

  constructor(options: BreakerOptions = {}) {
    this.options = { ...BREAKER_DEFAULTS, ...options };
  }

  state(now: number): BreakerState {
    if (this.opens === 0) return "closed";
    return now < this.openUntil ? "open" : "half_open";
  }

  /** Whether a request may go to this host now: closed, or half-open with no trial out. */
  allows(now: number): boolean {
    const state = this.state(now);
    if (state === "closed") return true;
    if (state === "open") return false;
    return this.trialSince === undefined || now - this.trialSince >= this.options.trialLeaseMs;
  }

  /** Marks the half-open trial as handed out; no-op unless half-open. */
  beginTrial(now: number): void {
    if (this.state(now) === "half_open") this.trialSince = now;
  }

  recordSuccess(): void {
    // Any success closes, even a late one from a request that began before the breaker opened: the
    // host demonstrably serves.
    this.failures = 0;
    this.opens = 0;
    this.openUntil = 0;
    this.trialSince = undefined;
  }

  recordFailure(now: number): void {
    const state = this.state(now);
    // A late failure of a request sent before the breaker opened says nothing new.
    if (state === "open") return;
    this.failures += 1;
    if (state === "half_open" || this.failures >= this.options.threshold) {
      this.opens += 1;
      const cooldown = Math.min(
        this.options.baseCooldownMs * 2 ** (this.opens - 1),
        this.options.maxCooldownMs,
      );
      this.openUntil = now + cooldown;
      this.trialSince = undefined;
    }
  }
}
