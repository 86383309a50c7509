// Routing of generations over the configured sidecar pool (see pool.ts).
export { AffinityLru } from "./affinity.js";
export { BREAKER_DEFAULTS, type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.js";
export { PoolConfigError, parsePoolConfig, type SidecarConfig } from "./config.js";
export {
  explainNoRoute,
  fitsSize,
  type HostStatus,
  modelFor,
  type NoRouteReason,
  type RouteRequest,
  servedModels,
} from "./eligibility.js";
export { loadScore, pickTwoChoices } from "./p2c.js";
export {
  type HostReport,
  type PoolDeps,
  type PoolOptions,
  type RouteCandidate,
  SidecarPool,
} from "./pool.js";
