import type { GetLoadResponse } from "@sana-edge/proto";

// Power of two choices: pick two hosts at random and take the less loaded. With load reports up to a
// couple of seconds old, "always the least loaded" sends every request of that window to the same host
// (herding); two random choices spread them while still avoiding the busy ones.

/** Jobs per slot: how long a job admitted now waits, in units of a job, across hosts of different sizes. */
export function loadScore(load: Pick<GetLoadResponse, "queueDepth" | "activeJobs" | "capacity">): number {
  return (load.queueDepth + load.activeJobs) / Math.max(load.capacity, 1);
}

/**
 * The less loaded (lower score) of two distinct random items; ties keep the first drawn. undefined for an
 * empty list; the only item for a list of one. `random` returns values in [0, 1), like Math.random.
 */
export function pickTwoChoices<T>(
  items: readonly T[],
  score: (item: T) => number,
  random: () => number,
): T | undefined {
  if (items.length <= 1) return items[0];
  const first = Math.min(Math.floor(random() * items.length), items.length - 1);
  // Draw the second among the others, so the two are always distinct.
  let second = Math.min(Math.floor(random() * (items.length - 1)), items.length - 2);
  if (second >= first) second += 1;
  const a = items[first] as T;
  const b = items[second] as T;
  return score(b) < score(a) ? b : a;
}
