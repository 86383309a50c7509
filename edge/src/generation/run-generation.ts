import { Code, ConnectError } from "@connectrpc/connect";
import type { GenerateRequest } from "@sana-edge/proto";
import { ApiError, badGateway, invalidRequest, overloaded } from "../api/errors.js";
import { encodeBase64 } from "../encoding/base64.js";
import type { RouteRequest, SidecarConfig, SidecarPool } from "../routing/index.js";
import type { ImageStore } from "../storage/image-store.js";
import type { SidecarClient } from "../upstream/client.js";
import { UpstreamProtocolError, UpstreamStatusError, upstreamEvents } from "../upstream/events.js";
import type { GenerationEvent } from "./events.js";
import { noRouteError } from "./no-route.js";

// One image, generated on the best sidecar for it: candidates from the pool, failover to the
// next one while nothing has been streamed yet, the checked event stream mapped for the API,
// and the final image stored in R2 before `completed` is reported.

export interface GenerationDeps {
  readonly pool: SidecarPool;
  readonly clientFor: (host: SidecarConfig) => SidecarClient;
  readonly store: ImageStore;
}

/** The sidecar's trailer on RESOURCE_EXHAUSTED / UNAVAILABLE refusals. */
const RETRY_AFTER_TRAILER = "sana-retry-after-ms";

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Refused before any event: another host may take it. */
interface Refusal {
  readonly hostFault: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly error: ConnectError;
}

function refusalOf(error: unknown): Refusal | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  const hint = Number(error.metadata.get(RETRY_AFTER_TRAILER) ?? Number.NaN);
  const retryAfterSeconds = Number.isFinite(hint) ? seconds(hint) : undefined;
  switch (error.code) {
    case Code.ResourceExhausted:
      return { hostFault: false, retryAfterSeconds, error };
    case Code.Unavailable:
    case Code.Unknown:
    case Code.Internal:
    case Code.Unauthenticated:
    case Code.DeadlineExceeded:
      return {
        hostFault: error.code !== Code.Unavailable || retryAfterSeconds === undefined,
        retryAfterSeconds,
        error,
      };
    default:
      return undefined;
  }
}

/** A failure after the job started, as the client sees it. */
function startedFailure(error: unknown): ApiError {
  if (error instanceof UpstreamStatusError) {
    if (error.code === Code.ResourceExhausted || error.code === Code.Unavailable) {
      return overloaded(
        seconds(error.retryAfterMs || 1000),
        `the GPU host stopped the job: ${error.message}`,
      );
    }
    return badGateway(`the GPU host failed the job (${Code[error.code] ?? error.code}): ${error.message}`);
  }
  if (error instanceof UpstreamProtocolError)
    return badGateway(`the GPU host broke the stream: ${error.message}`);
  if (error instanceof ConnectError) {
    if (error.code === Code.InvalidArgument) return invalidRequest(null, error.rawMessage);
    return badGateway(`the GPU host failed the job: ${error.rawMessage}`);
  }
  return badGateway("the GPU host failed the job");
}

async function* fromHost(
  client: SidecarClient,
  request: GenerateRequest,
  deps: GenerationDeps,
  signal: AbortSignal,
  started: () => void,
): AsyncGenerator<GenerationEvent> {
  for await (const event of upstreamEvents(client.generate(request, { signal }))) {
    started();
    switch (event.kind) {
      case "queued":
      case "progress":
        yield event.data;
        break;
      case "preview": {
        const { step, format, data, width, height } = event.data;
        yield { type: "preview", step, format, b64_json: encodeBase64(data), width, height };
        break;
      }
      case "image":
        yield { type: "completed", image: await deps.store.put(event.image) };
        break;
    }
  }
}

/** Generates one image; throws ApiError when no host could take it or the job failed. */
export async function* runGeneration(
  request: GenerateRequest,
  route: RouteRequest,
  deps: GenerationDeps,
  signal: AbortSignal,
): AsyncGenerator<GenerationEvent> {
  const candidates = await deps.pool.candidates(route);
  if (candidates.length === 0) throw noRouteError(deps.pool, route);
  const refusals: Refusal[] = [];
  for (const { host } of candidates) {
    let hasStarted = false;
    try {
      yield* fromHost(deps.clientFor(host), request, deps, signal, () => {
        hasStarted = true;
      });
      deps.pool.reportSuccess(host.id, route.promptKey);
      return;
    } catch (error) {
      if (signal.aborted) throw error;
      const refusal = hasStarted ? undefined : refusalOf(error);
      if (refusal === undefined) throw error instanceof ApiError ? error : startedFailure(error);
      if (refusal.hostFault) deps.pool.reportFailure(host.id);
      refusals.push(refusal);
    }
  }
  throw exhausted(refusals);
}

/** Every candidate refused: busy hosts are a 503 with a retry hint, broken ones a 502. */
function exhausted(refusals: readonly Refusal[]): ApiError {
  const busy = refusals.filter((r) => !r.hostFault);
  if (busy.length > 0) {
    const retry = Math.min(...busy.map((r) => r.retryAfterSeconds ?? 1));
    return overloaded(retry, "every GPU host that serves this model is busy; retry later");
  }
  const reasons = refusals.map((r) => r.error.rawMessage).join("; ");
  return badGateway(`no GPU host could serve the request (${reasons})`);
}
