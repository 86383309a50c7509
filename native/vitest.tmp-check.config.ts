import { defineConfig } from "vitest/config";
export default defineConfig({ resolve: { conditions: ["source"] }, ssr: { resolve: { conditions: ["source"] } }, test: { include: ["native/test/**/*.test.ts"], testTimeout: 120_000, pool: "forks" } });
