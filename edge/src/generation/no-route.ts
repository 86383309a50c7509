import { ApiError, invalidRequest, notFound, overloaded } from "../api/errors.js";
import type { RouteRequest, SidecarPool } from "../routing/index.js";

// When no sidecar can take a request, the client learns why in OpenAI's terms: a model nobody
// serves (404), a size beyond every host (400), or hosts that are down or draining (503, retry).

/** Long enough for a restarting host or a drain's replacement to come up. */
const UNAVAILABLE_RETRY_SECONDS = 5;

export function noRouteError(
  pool: SidecarPool,
  want: Pick<RouteRequest, "model" | "width" | "height">,
): ApiError {
  switch (pool.explainNoRoute(want)) {
    case "unknown_model":
      return notFound(
        `The model '${want.model ?? ""}' is not served here; GET /v1/models lists the served ones`,
        "model",
        "model_not_found",
      );
    case "size_too_large":
      return invalidRequest(
        "size",
        `no GPU host serves ${want.model ?? "this model"} at ${want.width}x${want.height}`,
      );
    case "all_draining":
      return overloaded(UNAVAILABLE_RETRY_SECONDS, "the GPU hosts are restarting; retry shortly");
    case "no_healthy_host":
      return new ApiError({
        status: 503,
        type: "server_error",
        message: "no GPU host is reachable right now; retry shortly",
        retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS,
      });
  }
}
