import type { Coalescer } from "./coalesce/coalescer.js";
import type { RateLimiter } from "./limits/rate-limiter.js";

// The worker's bindings (wrangler.toml) and secrets.
export interface Env {
  /** API keys: "key:<id>" -> KeyRecord JSON. */
  readonly KEYS: KVNamespace;
  /** "images/<sha256>" image bytes; "results/<cache key>" ResultRecord JSON. */
  readonly IMAGES: R2Bucket;
  readonly RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  readonly COALESCER: DurableObjectNamespace<Coalescer>;
  /** JSON array of SidecarConfig. */
  readonly SIDECARS: string;
  /** Sent to sidecars as `authorization: Bearer <secret>`. */
  readonly SIDECAR_SECRET?: string;
  readonly RATE_LIMIT_RPM?: string;
  readonly RATE_LIMIT_CONCURRENCY?: string;
}
