import type { Sidecar } from "../../src/server/sidecar.js";

// What the engine did, read from the sidecar's own metrics: tests prove the engine stopped
// (no more steps), not merely that a stream closed.

export async function stepsRun(sidecar: Sidecar): Promise<number> {
  const metric = sidecar.metrics.registry.getSingleMetric("sana_denoise_steps_total");
  if (metric === undefined) throw new Error("sana_denoise_steps_total is not registered");
  const { values } = await metric.get();
  return values.reduce((total, sample) => total + sample.value, 0);
}

/** Batches run and the jobs in them, from the sana_batch_size histogram as Prometheus scrapes it. */
export async function batchSizes(sidecar: Sidecar): Promise<{ count: number; sum: number }> {
  const text = await sidecar.metrics.render();
  const pick = (suffix: string) =>
    [...text.matchAll(new RegExp(`^sana_batch_size_${suffix}\\{[^}]*\\} (\\S+)$`, "gm"))].reduce(
      (total, match) => total + Number(match[1]),
      0,
    );
  return { count: pick("count"), sum: pick("sum") };
}

/** Resolves after the step counter has not moved for `quietMs`; returns its value. */
export async function stepsWhenSettled(sidecar: Sidecar, quietMs = 600): Promise<number> {
  let last = await stepsRun(sidecar);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const now = await stepsRun(sidecar);
    if (now === last) return now;
    last = now;
  }
}
