import type { KeyRecord } from "./auth/api-keys.js";
import type { Env } from "./env.js";

/** Hono's typing of the worker: its bindings, and the API key the auth middleware verified. */
export interface AppEnv {
  Bindings: Env;
  Variables: { apiKey: KeyRecord };
}
