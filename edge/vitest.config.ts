import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";

// Unit tests that run inside workerd with the worker's real bindings (KV, R2, Durable Objects
// simulated by Miniflare from wrangler.toml).
export default defineProject({
  plugins: [cloudflareTest({ wrangler: { configPath: "../wrangler.toml" } })],
  test: {
    name: "workers",
    include: ["test/workers/**/*.test.ts"],
  },
});
