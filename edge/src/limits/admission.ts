import { rateLimited } from "../api/errors.js";
import type { KeyRecord } from "../auth/api-keys.js";
import type { Env } from "../env.js";

// Per-key admission through the key's RateLimiter Durable Object: a request per minute and a
// concurrency slot, both from the key's record or the deployment's defaults.

const DEFAULT_RPM = 60;
const DEFAULT_CONCURRENCY = 4;

function limit(fromKey: number | undefined, fromEnv: string | undefined, fallback: number): number {
  if (fromKey !== undefined) return fromKey;
  const configured = Number(fromEnv);
  return Number.isInteger(configured) && configured > 0 ? configured : fallback;
}

/** Takes a slot for one generation request; resolves with its (idempotent) release, or throws 429. */
export async function acquireGenerationSlot(env: Env, key: KeyRecord): Promise<() => Promise<void>> {
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key.id));
  const admission = await limiter.acquire({
    rpm: limit(key.rpm, env.RATE_LIMIT_RPM, DEFAULT_RPM),
    concurrency: limit(key.concurrency, env.RATE_LIMIT_CONCURRENCY, DEFAULT_CONCURRENCY),
  });
  if (!admission.ok) {
    const what = admission.limit === "rpm" ? "requests per minute" : "concurrent generations";
    throw rateLimited(admission.retryAfterSeconds, `Rate limit reached for ${what} on this API key`);
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await limiter.release(admission.lease);
  };
}
