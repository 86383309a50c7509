import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LEASE_MS, type Limits } from "../../src/limits/rate-limiter.js";

// The RateLimiter Durable Object through its RPC methods, as the worker calls it, with explicit clock
// values. Each test uses its own key (its own object), so tests cannot see each other's admissions.

const T0 = 1_700_000_000_000;

function limiter(name = crypto.randomUUID()) {
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
}

async function leaseOf(stub: ReturnType<typeof limiter>, limits: Limits, now: number): Promise<string> {
  const admission = await stub.acquire(limits, now);
  if (!admission.ok) throw new Error(`refused (${admission.limit})`);
  return admission.lease;
}

describe("RateLimiter", () => {
  it("refuses beyond rpm with a retry hint that ends when the oldest admission leaves the minute", async () => {
    const stub = limiter();
    const limits = { rpm: 2, concurrency: 10 };
    expect(await stub.acquire(limits, T0)).toMatchObject({ ok: true });
    expect(await stub.acquire(limits, T0 + 10_000)).toMatchObject({ ok: true });
    expect(await stub.acquire(limits, T0 + 20_000)).toEqual({
      ok: false,
      limit: "rpm",
      retryAfterSeconds: 40,
    });
    expect(await stub.acquire(limits, T0 + 59_999)).toEqual({
      ok: false,
      limit: "rpm",
      retryAfterSeconds: 1,
    });
    // At exactly a minute the first admission has left the window.
    expect(await stub.acquire(limits, T0 + 60_000)).toMatchObject({ ok: true });
    // Now the oldest is the one at +10 s.
    expect(await stub.acquire(limits, T0 + 60_001)).toEqual({
      ok: false,
      limit: "rpm",
      retryAfterSeconds: 10,
    });
  });

  it("does not count refused requests against the minute", async () => {
    const stub = limiter();
    const limits = { rpm: 1, concurrency: 10 };
    await leaseOf(stub, limits, T0);
    for (let t = 1_000; t < 60_000; t += 1_000) {
      expect(await stub.acquire(limits, T0 + t)).toMatchObject({ ok: false, limit: "rpm" });
    }
    expect(await stub.acquire(limits, T0 + 60_000)).toMatchObject({ ok: true });
  });

  it("refuses beyond the concurrency limit while leases are held", async () => {
    const stub = limiter();
    const limits = { rpm: 100, concurrency: 2 };
    const first = await leaseOf(stub, limits, T0);
    const second = await leaseOf(stub, limits, T0 + 1);
    expect(first).not.toBe(second);
    expect(await stub.acquire(limits, T0 + 2)).toEqual({
      ok: false,
      limit: "concurrency",
      retryAfterSeconds: 5,
    });
  });

  it("frees a concurrency slot on release", async () => {
    const stub = limiter();
    const limits = { rpm: 100, concurrency: 1 };
    const lease = await leaseOf(stub, limits, T0);
    expect(await stub.acquire(limits, T0 + 1)).toMatchObject({ ok: false, limit: "concurrency" });
    await stub.release(lease, T0 + 2);
    expect(await stub.acquire(limits, T0 + 3)).toMatchObject({ ok: true });
  });

  it("ignores releasing an unknown or already released lease", async () => {
    const stub = limiter();
    const limits = { rpm: 100, concurrency: 2 };
    const lease = await leaseOf(stub, limits, T0);
    await leaseOf(stub, limits, T0 + 1);
    await stub.release(lease, T0 + 2);
    await stub.release(lease, T0 + 3);
    await stub.release("no-such-lease", T0 + 4);
    // Exactly one slot came free: one more admission, then full again.
    expect(await stub.acquire(limits, T0 + 5)).toMatchObject({ ok: true });
    expect(await stub.acquire(limits, T0 + 6)).toMatchObject({ ok: false, limit: "concurrency" });
  });

  it("expires a lease that was never released after LEASE_MS", async () => {
    const stub = limiter();
    const limits = { rpm: 100, concurrency: 1 };
    await leaseOf(stub, limits, T0);
    expect(await stub.acquire(limits, T0 + LEASE_MS - 1)).toMatchObject({ ok: false, limit: "concurrency" });
    expect(await stub.acquire(limits, T0 + LEASE_MS)).toMatchObject({ ok: true });
  });

  it("reports rpm before concurrency when both are exhausted", async () => {
    const stub = limiter();
    const limits = { rpm: 1, concurrency: 1 };
    await leaseOf(stub, limits, T0);
    expect(await stub.acquire(limits, T0 + 30_000)).toEqual({
      ok: false,
      limit: "rpm",
      retryAfterSeconds: 30,
    });
  });

  it("keeps separate keys independent", async () => {
    const key = crypto.randomUUID();
    const limits = { rpm: 1, concurrency: 1 };
    await leaseOf(limiter(`${key}-a`), limits, T0);
    expect(await limiter(`${key}-a`).acquire(limits, T0 + 1)).toMatchObject({ ok: false });
    expect(await limiter(`${key}-b`).acquire(limits, T0 + 1)).toMatchObject({ ok: true });
  });

  it("applies the limits of each call, so a key whose limits were raised is admitted at once", async () => {
    const stub = limiter();
    await leaseOf(stub, { rpm: 1, concurrency: 1 }, T0);
    expect(await stub.acquire({ rpm: 1, concurrency: 1 }, T0 + 1)).toMatchObject({ ok: false });
    expect(await stub.acquire({ rpm: 2, concurrency: 2 }, T0 + 2)).toMatchObject({ ok: true });
  });

  it("keeps its state across stubs (the state is the object's storage, not the stub)", async () => {
    const key = crypto.randomUUID();
    const limits = { rpm: 100, concurrency: 1 };
    const lease = await leaseOf(limiter(key), limits, T0);
    expect(await limiter(key).acquire(limits, T0 + 1)).toMatchObject({ ok: false, limit: "concurrency" });
    await limiter(key).release(lease, T0 + 2);
    expect(await limiter(key).acquire(limits, T0 + 3)).toMatchObject({ ok: true });
  });
});
