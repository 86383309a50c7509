import { Hono } from "hono";
import type { Env } from "./env.js";

export { Coalescer } from "./coalesce/coalescer.js";
export { RateLimiter } from "./limits/rate-limiter.js";

const app = new Hono<{ Bindings: Env }>();
app.get("/healthz", (c) => c.text("ok"));

export default app;
