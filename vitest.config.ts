import { defineConfig } from "vitest/config";

// One run over every package; workspace packages resolve to their TypeScript sources.
export default defineConfig({
  resolve: { conditions: ["source"] },
  // Node-side tests resolve through Vite's SSR path, which has its own conditions.
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["{proto,native,sidecar,edge,test}/test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
