// Errors in the shape of the OpenAI API, so the official SDKs raise their usual exception classes
// (they choose the class by HTTP status and read `error.message`, `type`, `param` and `code`).

/** The HTTP statuses the public API answers errors with. */
export type ApiErrorStatus = 400 | 401 | 403 | 404 | 413 | 429 | 500 | 502 | 503;

export interface ApiErrorInit {
  readonly status: ApiErrorStatus;
  readonly type: string;
  readonly message: string;
  readonly param?: string | null;
  readonly code?: string | null;
  /** Sent as Retry-After; the SDKs honour it when they retry 429 and 5xx answers. */
  readonly retryAfterSeconds?: number;
}

/** The JSON body of every error answer. */
export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error whose message is meant for the client, answered as-is by errorResponse. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: ApiErrorStatus;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  // Declared, not initialised: the property exists only when there is a hint (exactOptionalPropertyTypes).
  declare readonly retryAfterSeconds?: number;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.status = init.status;
    this.type = init.type;
    this.param = init.param ?? null;
    this.code = init.code ?? null;
    if (init.retryAfterSeconds !== undefined) this.retryAfterSeconds = wholeSeconds(init.retryAfterSeconds);
  }
}

// Retry-After takes whole seconds; rounding down to 0 would invite an immediate retry storm.
function wholeSeconds(seconds: number): number {
  return Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : 1;
}

/** 400: the request is malformed; `param` names the offending field. */
export function invalidRequest(param: string | null, message: string, code: string | null = null): ApiError {
  return new ApiError({ status: 400, type: "invalid_request_error", message, param, code });
}

/** 401: no usable API key (OpenAI's own type and code, which the SDKs surface as AuthenticationError). */
export function unauthorized(message: string): ApiError {
  return new ApiError({ status: 401, type: "invalid_request_error", message, code: "invalid_api_key" });
}

/** 403: the key is valid but may not do this. */
export function forbidden(message: string, code: string | null = null): ApiError {
  return new ApiError({ status: 403, type: "permission_error", message, code });
}

/** 404: an unknown model, image or route. */
export function notFound(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError({ status: 404, type: "invalid_request_error", message, param, code });
}

/** 413: the request body exceeds what the edge reads. */
export function payloadTooLarge(message: string): ApiError {
  return new ApiError({ status: 413, type: "invalid_request_error", message, code: "payload_too_large" });
}

/** 429: the key exceeded its rate or concurrency limit (OpenAI sends type "requests" for these). */
export function rateLimited(retryAfterSeconds: number, message: string): ApiError {
  return new ApiError({
    status: 429,
    type: "requests",
    message,
    code: "rate_limit_exceeded",
    retryAfterSeconds,
  });
}

/** 503: every sidecar able to serve the request is full or draining. */
export function overloaded(retryAfterSeconds: number, message: string): ApiError {
  return new ApiError({ status: 503, type: "server_error", message, code: "overloaded", retryAfterSeconds });
}

/** 502: a sidecar failed or answered something the edge cannot use. */
export function badGateway(message: string): ApiError {
  return new ApiError({ status: 502, type: "server_error", message, code: "bad_gateway" });
}

/** OpenAI's wording for its own 500s; says nothing about what failed inside. */
export const INTERNAL_ERROR_MESSAGE =
  "The server had an error while processing your request. Sorry about that!";

/** The JSON body errorResponse sends for `error`. */
export function errorBody(error: ApiError): ApiErrorBody {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

/**
 * Answers any thrown value: ApiErrors as they are, anything else as a generic 500 whose details go to the
 * log only, since exception messages can carry upstream addresses, secrets or stack traces.
 */
export function errorResponse(error: unknown): Response {
  const apiError = error instanceof ApiError ? error : internalError(error);
  const headers = new Headers({ "content-type": "application/json" });
  if (apiError.retryAfterSeconds !== undefined)
    headers.set("retry-after", String(apiError.retryAfterSeconds));
  return new Response(JSON.stringify(errorBody(apiError)), { status: apiError.status, headers });
}

function internalError(cause: unknown): ApiError {
  console.error("unhandled error", cause);
  return new ApiError({ status: 500, type: "server_error", message: INTERNAL_ERROR_MESSAGE });
}
