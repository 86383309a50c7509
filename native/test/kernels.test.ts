import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The CPU tensor core is checked in C++ (tools/sana_kernel_check.cpp, built with the addon):
// the portable SGEMM against double precision and against OpenBLAS, the thread pool, the
// arena and every transformer kernel against naive references.
const checker = fileURLToPath(new URL("../build/sana_kernel_check", import.meta.url));

describe("CPU tensor core (sana_kernel_check)", () => {
  it("passes every kernel check against its double-precision reference", () => {
    expect(existsSync(checker), `${checker} is missing: build it with npm run build -w native`).toBe(true);
    const run = spawnSync(checker, [], { encoding: "utf8", timeout: 300_000 });
    const failures = run.stdout.split("\n").filter((line) => line.startsWith("FAIL"));
    expect(failures).toEqual([]);
    expect(run.stdout).toMatch(/^0 failure\(s\)$/m);
    expect(run.status).toBe(0);
  });
});
