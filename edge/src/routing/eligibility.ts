import type { GetLoadResponse, ModelInfo } from "@sana-edge/proto";
import type { SidecarConfig } from "./config.js";

// Which hosts can take a request at all (the capability filter that runs before any load-aware choice),
// and, when none can, why: the caller answers 404 for a model nobody serves, 400 for a size nobody
// accepts, and 503 (retry later) when the hosts that could serve are down or shutting down.

export interface RouteRequest {
  /** Public model id; undefined means each host's first (default) model. */
  readonly model?: string | undefined;
  readonly width: number;
  readonly height: number;
  /** Identifies the prompt for affinity (e.g. a hash of model + prompt); "" disables affinity. */
  readonly promptKey: string;
}

/** A host as routing sees it now (SidecarPool.status()). */
export interface HostStatus {
  readonly config: SidecarConfig;
  /** The last successful GetLoad report, however old; undefined until one succeeds. */
  readonly load: GetLoadResponse | undefined;
  /** The breaker lets a request through and the latest GetLoad succeeded. */
  readonly healthy: boolean;
}

export type NoRouteReason = "unknown_model" | "size_too_large" | "no_healthy_host" | "all_draining";

/** The models a host serves: what it reports, narrowed to its configured allow-list if it has one. */
export function servedModels(config: SidecarConfig, load: GetLoadResponse): ModelInfo[] {
  const allowed = config.models;
  return allowed === undefined ? load.models : load.models.filter((m) => allowed.includes(m.id));
}

/** The ModelInfo a host would use for `model` (its first model when undefined), if it serves it. */
export function modelFor(
  config: SidecarConfig,
  load: GetLoadResponse,
  model: string | undefined,
): ModelInfo | undefined {
  const served = servedModels(config, load);
  return model === undefined ? served[0] : served.find((m) => m.id === model);
}

/**
 * Whether the model accepts this size. A limit of 0 is proto3's "not reported", not "nothing fits": the
 * request is routed and the sidecar, which validates every request anyway, has the last word.
 */
export function fitsSize(info: ModelInfo, width: number, height: number): boolean {
  const caps = info.capabilities;
  if (caps === undefined) return true;
  return (
    (caps.maxWidth === 0 || width <= caps.maxWidth) && (caps.maxHeight === 0 || height <= caps.maxHeight)
  );
}

/** Why no host can take `want`; meaningful when SidecarPool.candidates(want) returned []. */
export function explainNoRoute(
  hosts: readonly HostStatus[],
  want: Pick<RouteRequest, "model" | "width" | "height">,
): NoRouteReason {
  let servesModel = false;
  const servesAtSize: HostStatus[] = [];
  for (const host of hosts) {
    if (host.load !== undefined) {
      const info = modelFor(host.config, host.load, want.model);
      if (info === undefined) continue;
      servesModel = true;
      if (fitsSize(info, want.width, want.height)) servesAtSize.push(host);
    } else {
      // Never reached, so its models are unknown. Its configured allow-list says what it would serve;
      // without one it might serve anything. Either way its limits are unknown, so assume the size fits:
      // better a 503 that clears when the host comes up than a 404 or 400 a client takes as final.
      const declared = host.config.models;
      if (declared !== undefined && want.model !== undefined && !declared.includes(want.model)) continue;
      servesModel = true;
      servesAtSize.push(host);
    }
  }
  if (servesAtSize.length === 0) return servesModel ? "size_too_large" : "unknown_model";
  const healthy = servesAtSize.filter((h) => h.healthy);
  if (healthy.length > 0 && healthy.every((h) => h.load?.draining === true)) return "all_draining";
  return "no_healthy_host";
}
