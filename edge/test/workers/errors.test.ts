import { describe, expect, it, vi } from "vitest";
import {
  ApiError,
  badGateway,
  errorResponse,
  forbidden,
  INTERNAL_ERROR_MESSAGE,
  invalidRequest,
  notFound,
  overloaded,
  payloadTooLarge,
  rateLimited,
  unauthorized,
} from "../../src/api/errors.js";

async function answer(error: unknown) {
  const response = errorResponse(error);
  return { response, body: (await response.json()) as unknown };
}

describe("errorResponse", () => {
  it("answers an ApiError with OpenAI's error envelope and its status", async () => {
    const { response, body } = await answer(invalidRequest("n", "Invalid 'n'.", "invalid_value"));
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.has("retry-after")).toBe(false);
    expect(body).toEqual({
      error: { message: "Invalid 'n'.", type: "invalid_request_error", param: "n", code: "invalid_value" },
    });
  });

  it("always sends param and code, as null when not set", async () => {
    const { body } = await answer(notFound("No such image."));
    expect(body).toEqual({
      error: { message: "No such image.", type: "invalid_request_error", param: null, code: null },
    });
  });

  it("sends Retry-After in whole seconds, rounded up", async () => {
    const { response, body } = await answer(rateLimited(2.2, "Slow down."));
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("3");
    expect(body).toEqual({
      error: { message: "Slow down.", type: "requests", param: null, code: "rate_limit_exceeded" },
    });
  });

  it("never tells a client to retry after 0 seconds", () => {
    expect(errorResponse(overloaded(0, "Busy.")).headers.get("retry-after")).toBe("1");
  });

  it("answers anything that is not an ApiError as a generic 500 without its message", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const { response, body } = await answer(new Error("connect ECONNREFUSED 10.0.0.7:50051 secret=hunter2"));
    expect(response.status).toBe(500);
    expect(body).toEqual({
      error: { message: INTERNAL_ERROR_MESSAGE, type: "server_error", param: null, code: null },
    });
    expect(JSON.stringify(body)).not.toContain("10.0.0.7");
    expect(log).toHaveBeenCalled();
    log.mockRestore();
  });

  it("also answers thrown non-errors as a 500", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    expect((await answer("a string")).response.status).toBe(500);
    expect((await answer(undefined)).response.status).toBe(500);
    log.mockRestore();
  });
});

describe("error constructors", () => {
  it("give each failure the status the OpenAI SDKs map to the matching exception", () => {
    const cases: Array<[ApiError, number, string, string | null]> = [
      [invalidRequest("size", "bad"), 400, "invalid_request_error", null],
      [unauthorized("no key"), 401, "invalid_request_error", "invalid_api_key"],
      [forbidden("not yours"), 403, "permission_error", null],
      [notFound("gone", "model", "model_not_found"), 404, "invalid_request_error", "model_not_found"],
      [payloadTooLarge("big"), 413, "invalid_request_error", "payload_too_large"],
      [rateLimited(1, "slow"), 429, "requests", "rate_limit_exceeded"],
      [badGateway("upstream"), 502, "server_error", "bad_gateway"],
      [overloaded(5, "busy"), 503, "server_error", "overloaded"],
    ];
    for (const [error, status, type, code] of cases) {
      expect(error).toBeInstanceOf(ApiError);
      expect(error).toBeInstanceOf(Error);
      expect([error.status, error.type, error.code], error.message).toEqual([status, type, code]);
    }
  });

  it("carry the retry hint only on the answers that have one", () => {
    expect(overloaded(5, "busy").retryAfterSeconds).toBe(5);
    expect(badGateway("upstream").retryAfterSeconds).toBeUndefined();
    expect("retryAfterSeconds" in badGateway("upstream")).toBe(false);
  });
});
