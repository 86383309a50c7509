import { z } from "zod";

// The sidecar pool comes from configuration (env.SIDECARS, a JSON string), not discovery: the operator
// lists the GPU hosts, and a mistake there must fail loudly at the first request rather than route to
// nowhere, so every rule below names the entry and field it rejects.

export interface SidecarConfig {
  /** Stable name of the host, unique in the pool (logs, metrics, affinity). */
  readonly id: string;
  /** Base URL of the sidecar's gRPC(-web) endpoint, http or https. */
  readonly url: string;
  /**
   * Optional allow-list of model ids routed to this host. When present, only reported models listed here
   * are routed to it (e.g. to keep a big model off a small GPU that also loads it), and it tells
   * explainNoRoute which models a host that is down would serve.
   */
  readonly models?: readonly string[];
}

export class PoolConfigError extends Error {
  override readonly name = "PoolConfigError";
}

const entrySchema = z.strictObject({
  id: z
    .string({ error: "must be a string" })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "must be 1-64 letters, digits, '.', '_', ':' or '-'"),
  url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
  models: z
    .array(z.string({ error: "must be a string" }).min(1, "must not be empty"), { error: "must be an array" })
    .min(1, "must list at least one model when present")
    .optional(),
});

const poolSchema = z
  .array(entrySchema, { error: "must be a JSON array of sidecars" })
  .min(1, "must list at least one sidecar");

/** Parses and validates env.SIDECARS; throws PoolConfigError naming every problem found. */
export function parsePoolConfig(text: string): SidecarConfig[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PoolConfigError(`SIDECARS is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = poolSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${pathOf(issue.path)}: ${issue.message}`);
    throw new PoolConfigError(`SIDECARS is invalid: ${problems.join("; ")}`);
  }
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const entry of parsed.data) {
    if (seen.has(entry.id)) duplicates.add(entry.id);
    seen.add(entry.id);
  }
  if (duplicates.size > 0) {
    throw new PoolConfigError(
      `SIDECARS is invalid: duplicate id ${[...duplicates].map((id) => `"${id}"`).join(", ")}`,
    );
  }
  // Rebuilt field by field: exactOptionalPropertyTypes forbids `models: undefined`.
  return parsed.data.map(({ id, url, models }) => (models === undefined ? { id, url } : { id, url, models }));
}

function pathOf(path: readonly PropertyKey[]): string {
  let out = "SIDECARS";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : `.${String(part)}`;
  return out;
}
