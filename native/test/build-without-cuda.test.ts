import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir } from "./helpers/fixtures.js";

// The addon must build on hosts without nvcc: the same sources, configured with no CUDA
// compiler on PATH, give a CPU-only addon that loads and computes. (The main build, made by
// `npm ci`, has CUDA wherever nvcc is installed, as on CI; cuda.test.ts checks that one.)

const nativeDir = fileURLToPath(new URL("..", import.meta.url));
const buildDir = makeTempDir("no-cuda-build");
afterAll(() => buildDir.remove());

function pathWithoutNvcc(): string {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "" && !existsSync(join(dir, "nvcc")))
    .join(delimiter);
}

describe("a build without nvcc", () => {
  it("compiles a CPU-only addon that loads and runs the engine", { timeout: 20 * 60_000 }, () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: pathWithoutNvcc(),
      CMAKE_BUILD_PARALLEL_LEVEL: "2",
    };
    delete env.CUDACXX;
    delete env.CUDA_PATH;
    delete env.CUDA_HOME;
    const cmakeJs = join(nativeDir, "..", "node_modules", ".bin", "cmake-js");
    const build = spawnSync(
      cmakeJs,
      ["compile", "--CDCMAKE_BUILD_TYPE=Release", "-G", "Ninja", "-O", buildDir.path],
      { cwd: nativeDir, env, encoding: "utf8" },
    );
    expect(build.status, build.stderr + build.stdout).toBe(0);
    expect(build.stdout).toMatch(/building without the CUDA backend/);

    const addon = join(buildDir.path, "Release", "sana_native.node");
    const model = fileURLToPath(new URL("../../test/fixtures/golden/models/tiny-sana", import.meta.url));
    const probe = spawnSync(
      process.execPath,
      [
        "-e",
        `const a = require(${JSON.stringify(addon)});
         const info = a.buildInfo();
         let cuda;
         try { a.cudaInfo(); cuda = "available"; } catch (e) { cuda = e.message; }
         console.log(JSON.stringify({ cuda: info.cuda, cudaInfo: cuda, components: a.openModelFolder(${JSON.stringify(model)}).components.length }));`,
      ],
      { encoding: "utf8" },
    );
    expect(probe.status, probe.stderr).toBe(0);
    const result = JSON.parse(probe.stdout) as { cuda: boolean; cudaInfo: string; components: number };
    expect(result.cuda).toBe(false);
    expect(result.cudaInfo).toMatch(/CUDA/);
    expect(result.components).toBe(5);
  });
});
