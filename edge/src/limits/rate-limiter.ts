import { DurableObject } from "cloudflare:workers";

// One Durable Object per API key: requests per minute (a sliding one-minute log) and
// concurrent generations (leases released when a generation ends, expiring if a release is
// lost). Single-threaded and strongly consistent, which KV counters are not.

export interface Limits {
  /** Requests admitted per sliding minute. */
  readonly rpm: number;
  /** Generations running at once. */
  readonly concurrency: number;
}

export type Admission =
  | { readonly ok: true; readonly lease: string }
  | { readonly ok: false; readonly limit: "rpm" | "concurrency"; readonly retryAfterSeconds: number };

interface State {
  /** Admission times (ms) within the last minute, oldest first. */
  recent: number[];
  /** Lease id -> expiry (ms). */
  leases: Record<string, number>;
}

const WINDOW_MS = 60_000;
/** A generation that never released its lease (the isolate died) frees it after this long. */
export const LEASE_MS = 15 * 60_000;
/** Suggested retry when all concurrency slots are taken: long enough for a short generation to end. */
const CONCURRENCY_RETRY_SECONDS = 5;

export class RateLimiter extends DurableObject {
  async acquire(limits: Limits, now = Date.now()): Promise<Admission> {
    const state = await this.load(now);
    if (state.recent.length >= limits.rpm) {
      const oldest = state.recent[0] ?? now;
      return {
        ok: false,
        limit: "rpm",
        retryAfterSeconds: Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000)),
      };
    }
    if (Object.keys(state.leases).length >= limits.concurrency) {
      return { ok: false, limit: "concurrency", retryAfterSeconds: CONCURRENCY_RETRY_SECONDS };
    }
    const lease = crypto.randomUUID();
    state.recent.push(now);
    state.leases[lease] = now + LEASE_MS;
    await this.ctx.storage.put("state", state);
    return { ok: true, lease };
  }

  async release(lease: string, now = Date.now()): Promise<void> {
    const state = await this.load(now);
    if (!(lease in state.leases)) return;
    delete state.leases[lease];
    await this.ctx.storage.put("state", state);
  }

  private async load(now: number): Promise<State> {
    const stored = (await this.ctx.storage.get<State>("state")) ?? { recent: [], leases: {} };
    const recent = stored.recent.filter((t) => t > now - WINDOW_MS);
    const leases = Object.fromEntries(Object.entries(stored.leases).filter(([, expiry]) => expiry > now));
    return { recent, leases };
  }
}
