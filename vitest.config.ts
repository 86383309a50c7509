import { defineConfig } from "vitest/config";

// One run over every package: Node tests here, the edge's workerd tests in their own project.
// Workspace packages resolve to their TypeScript sources.
export default defineConfig({
  resolve: { conditions: ["source"] },
  // Node-side tests resolve through Vite's SSR path, which has its own conditions.
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "node",
          include: ["{proto,native,sidecar,edge,test,stack,infra}/test/**/*.test.ts"],
          exclude: ["edge/test/workers/**", "**/node_modules/**"],
          pool: "forks",
        },
      },
      "edge/vitest.config.ts",
    ],
  },
});
