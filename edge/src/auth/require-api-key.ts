// Bearer-key authentication for the API routes; what follows can trust c.var.apiKey.
import { createMiddleware } from "hono/factory";
import { errorResponse } from "../api/errors.js";
import type { Env } from "../env.js";
import { type KeyRecord, verifyApiKey } from "./api-keys.js";

/** The context variables this middleware sets. */
export type ApiKeyVariables = { apiKey: KeyRecord };

export type ApiKeyEnv = { Bindings: Env; Variables: ApiKeyVariables };

/** Verifies `Authorization: Bearer <key>` against KEYS, or answers the error itself. */
export function requireApiKey() {
  return createMiddleware<ApiKeyEnv>(async (c, next) => {
    let record: KeyRecord;
    try {
      record = await verifyApiKey(c.env.KEYS, c.req.header("authorization") ?? null);
    } catch (error) {
      return withBearerChallenge(errorResponse(error));
    }
    c.set("apiKey", record);
    await next();
  });
}

// RFC 6750: a 401 names the scheme the client should use.
function withBearerChallenge(response: Response): Response {
  if (response.status === 401) response.headers.set("www-authenticate", 'Bearer realm="sana-edge"');
  return response;
}
