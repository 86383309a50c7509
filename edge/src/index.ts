import { createApp } from "./app.js";

// The Cloudflare Worker: the public API and the Durable Objects it uses.
export { Coalescer } from "./coalesce/coalescer.js";
export { RateLimiter } from "./limits/rate-limiter.js";

export default createApp();
