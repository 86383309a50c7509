import { describe, expect, it } from "vitest";
import { AffinityLru, CircuitBreaker, loadScore, pickTwoChoices } from "../../src/routing/index.js";

/** A deterministic `random`: the given values in turn, then 0. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++] ?? 0;
}

describe("CircuitBreaker", () => {
  it("opens after 3 consecutive failures, not before", () => {
    const breaker = new CircuitBreaker();
    breaker.recordFailure(0);
    breaker.recordFailure(1);
    expect(breaker.state(2)).toBe("closed");
    breaker.recordFailure(2);
    expect(breaker.state(2)).toBe("open");
    expect(breaker.allows(2)).toBe(false);
  });

  it("counts only consecutive failures: a success in between starts over", () => {
    const breaker = new CircuitBreaker();
    breaker.recordFailure(0);
    breaker.recordFailure(0);
    breaker.recordSuccess();
    breaker.recordFailure(0);
    breaker.recordFailure(0);
    expect(breaker.state(0)).toBe("closed");
  });

  it("half-opens after the cool-down and lets one trial through at a time", () => {
    const breaker = new CircuitBreaker({ baseCooldownMs: 5_000, trialLeaseMs: 30_000 });
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    expect(breaker.state(4_999)).toBe("open");
    expect(breaker.state(5_000)).toBe("half_open");
    expect(breaker.allows(5_000)).toBe(true);
    breaker.beginTrial(5_000);
    expect(breaker.allows(5_001)).toBe(false);
    // A trial that never reports back is given up after its lease.
    expect(breaker.allows(35_000)).toBe(true);
  });

  it("closes on a success in half-open", () => {
    const breaker = new CircuitBreaker();
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    breaker.beginTrial(5_000);
    breaker.recordSuccess();
    expect(breaker.state(5_000)).toBe("closed");
    expect(breaker.allows(5_000)).toBe(true);
  });

  it("doubles the cool-down on each failed trial up to the cap, and a success resets it", () => {
    const breaker = new CircuitBreaker({ baseCooldownMs: 5_000, maxCooldownMs: 60_000 });
    let t = 0;
    for (let i = 0; i < 3; i++) breaker.recordFailure(t);
    const cooldowns: number[] = [];
    for (let i = 0; i < 6; i++) {
      let end = t;
      while (breaker.state(end) === "open") end += 1_000;
      cooldowns.push(end - t);
      t = end;
      breaker.recordFailure(t); // the trial fails
    }
    expect(cooldowns).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    t += 60_000;
    breaker.recordSuccess();
    for (let i = 0; i < 3; i++) breaker.recordFailure(t);
    expect(breaker.state(t + 4_999)).toBe("open");
    expect(breaker.state(t + 5_000)).toBe("half_open");
  });

  it("ignores failures reported while open (late outcomes of requests sent before it opened)", () => {
    const breaker = new CircuitBreaker({ baseCooldownMs: 5_000 });
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    breaker.recordFailure(4_000);
    expect(breaker.state(5_000)).toBe("half_open");
  });
});

describe("AffinityLru", () => {
  it("evicts the least recently used key, where a read counts as a use", () => {
    const lru = new AffinityLru(2);
    lru.set("p1", "a");
    lru.set("p2", "b");
    expect(lru.get("p1")).toBe("a");
    lru.set("p3", "c");
    expect(lru.get("p2")).toBeUndefined();
    expect(lru.get("p1")).toBe("a");
    expect(lru.get("p3")).toBe("c");
    expect(lru.size).toBe(2);
  });

  it("overwrites a key with the host that served it last", () => {
    const lru = new AffinityLru(2);
    lru.set("p", "a");
    lru.set("p", "b");
    expect(lru.get("p")).toBe("b");
    expect(lru.size).toBe(1);
  });
});

describe("pickTwoChoices", () => {
  const score = (n: number) => n;

  it("takes the less loaded of the two drawn, whichever is drawn first", () => {
    expect(pickTwoChoices([5, 1], score, sequence(0, 0))).toBe(1);
    expect(pickTwoChoices([5, 1], score, sequence(0.99, 0))).toBe(1);
  });

  it("never draws the same item twice", () => {
    // Both draws land on index 0 of their range; the second skips past the first.
    expect(pickTwoChoices([3, 7, 9], score, sequence(0, 0))).toBe(3);
    expect(pickTwoChoices([7, 3, 9], score, sequence(0, 0))).toBe(3);
  });

  it("picks among the two drawn only, not the global least loaded", () => {
    expect(pickTwoChoices([0, 5, 9], score, sequence(0.5, 0.99))).toBe(5);
  });

  it("handles empty and single-item lists", () => {
    expect(pickTwoChoices([], score, Math.random)).toBeUndefined();
    expect(pickTwoChoices([4], score, Math.random)).toBe(4);
  });

  it("scores load as queued plus running jobs per slot", () => {
    expect(loadScore({ queueDepth: 3, activeJobs: 1, capacity: 2 })).toBe(2);
    expect(loadScore({ queueDepth: 2, activeJobs: 0, capacity: 0 })).toBe(2);
  });
});
