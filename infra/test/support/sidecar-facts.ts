import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./manifests.js";

// What the deployment files must agree with, read from the sidecar's own sources (not copied into the tests,
// so a rename there fails here).

export interface ExportedMetric {
  readonly name: string;
  readonly type: "gauge" | "histogram" | "counter";
}

function source(path: string): string {
  return readFileSync(join(REPO_ROOT, path), "utf8");
}

/** The sana_* metrics SidecarMetrics registers (sidecar/src/ops/metrics.ts). */
export function exportedMetrics(): ExportedMetric[] {
  const text = source("sidecar/src/ops/metrics.ts");
  const found = [...text.matchAll(/this\.(gauge|histogram|counter)\(\s*"(sana_[a-z0-9_]+)"/g)].map(
    ([, type, name]) => ({ name: name ?? "", type: type as ExportedMetric["type"] }),
  );
  if (found.length === 0) throw new Error("no metric definitions found in sidecar/src/ops/metrics.ts");
  return found;
}

/** The series names a PromQL query may use for the exported metrics (histograms: _bucket, _sum, _count). */
export function exportedSeries(): Set<string> {
  return new Set(
    exportedMetrics().flatMap(({ name, type }) =>
      type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
    ),
  );
}

/** The path the metrics server answers (sidecar/src/ops/metrics.ts). */
export function metricsPath(): string {
  const match = /if \(path !== "(\/[^"]*)"\)/.exec(source("sidecar/src/ops/metrics.ts"));
  if (!match?.[1]) throw new Error("the metrics path was not found in sidecar/src/ops/metrics.ts");
  return match[1];
}

/** How long a drain leaves open streams after the grace period (sidecar/src/server/sidecar.ts), in seconds. */
export function closeGraceSeconds(): number {
  const match = /const CLOSE_GRACE_MS = ([\d_]+);/.exec(source("sidecar/src/server/sidecar.ts"));
  if (!match?.[1]) throw new Error("CLOSE_GRACE_MS was not found in sidecar/src/server/sidecar.ts");
  return Number(match[1].replaceAll("_", "")) / 1000;
}

/** The sana_* identifiers a PromQL expression names. */
export function seriesIn(query: string): string[] {
  return [...query.matchAll(/\b(sana_[a-z0-9_]+)\b/g)].map(([, name]) => name ?? "");
}
