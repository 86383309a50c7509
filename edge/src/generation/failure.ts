import { ApiError, type ApiErrorInit } from "../api/errors.js";
import type { FailedEvent } from "./events.js";

// Failures cross from the coalescing Durable Object to the worker as events; these turn them
// into the client's ApiError and back without losing status, retry hint or wording.

const INTERNAL: ApiErrorInit = {
  status: 500,
  type: "server_error",
  message: "the generation failed unexpectedly",
};

export function failedEvent(error: unknown): FailedEvent {
  if (!(error instanceof ApiError)) return { type: "failed", error: INTERNAL };
  const { status, type, message, param, code, retryAfterSeconds } = error;
  return {
    type: "failed",
    error: {
      status,
      type,
      message,
      param,
      code,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    },
  };
}

export function errorOf(event: FailedEvent): ApiError {
  return new ApiError(event.error);
}
