import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildInfo,
  cudaInfo,
  cudaSelfTest,
  loadTextEncoder,
  loadTransformer,
  loadVae,
} from "@sana-edge/native";
import { describe, expect, it } from "vitest";
import { runGoldenSet } from "../tools/golden/run.js";
import { goldenDir, modelsDir } from "./helpers/fixtures.js";

// The addon's CUDA surface must tell the truth about its build and never crash the process:
// without nvcc it says so, without a driver or device it throws a catchable Error.

const addonPath =
  process.env.SANA_NATIVE_ADDON ??
  fileURLToPath(new URL("../build/Release/sana_native.node", import.meta.url));
// cmake-js puts the addon in <build>/Release/; the CMake cache beside it records what was found.
const cmakeCache = readFileSync(join(dirname(dirname(addonPath)), "CMakeCache.txt"), "utf8");

function cacheValue(key: string): string | undefined {
  const line = cmakeCache.split("\n").find((l) => l.startsWith(`${key}:`));
  return line?.slice(line.indexOf("=") + 1);
}

// CMake records whether it built the backend (nvcc and cuBLASLt both found) as SANA_CUDA_BACKEND.
const builtWithCuda = cacheValue("SANA_CUDA_BACKEND") === "ON";
// The kernel driver publishes this file when it is loaded; without it no CUDA call can succeed.
const hasDriver = existsSync("/proc/driver/nvidia/version");

describe("buildInfo", () => {
  it("reports CUDA exactly when CMake built the CUDA backend", () => {
    expect(buildInfo().cuda).toBe(builtWithCuda);
  });

  it("reports CBLAS exactly when CMake found OpenBLAS", () => {
    const blas = cacheValue("OPENBLAS_LIBRARY");
    expect(buildInfo().cblas).toBe(blas !== undefined && !blas.endsWith("NOTFOUND"));
  });

  it("names the compiler and Node-API version", () => {
    const info = buildInfo();
    expect(info.compiler).toMatch(/^GNU \d+\.\d+|^Clang \d+/);
    expect(info.napiVersion).toBe(8);
  });
});

describe.runIf(!builtWithCuda)("an addon built without CUDA", () => {
  it("throws a catchable Error from cudaInfo and cudaSelfTest", () => {
    expect(() => cudaInfo()).toThrow(/built without CUDA/);
    expect(() => cudaSelfTest()).toThrow(/built without CUDA/);
  });
});

describe.runIf(builtWithCuda)("an addon built with CUDA", () => {
  it("records the target architectures", () => {
    expect(buildInfo().cudaArchitectures).toBe(
      (cacheValue("CMAKE_CUDA_ARCHITECTURES") ?? "").split(";").join(","),
    );
  });

  it.runIf(!hasDriver)("throws a catchable no-device Error, repeatedly, without crashing", () => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      expect(() => cudaInfo()).toThrow(/^no CUDA device available: .*(driver|no CUDA-capable device)/);
      expect(() => cudaSelfTest(1024)).toThrow(/^no CUDA device available/);
    }
    expect(buildInfo().cuda).toBe(true); // the addon still answers afterwards
  });

  it.runIf(hasDriver)("lists the devices with their memory", () => {
    const info = cudaInfo();
    expect(info.deviceCount).toBeGreaterThan(0);
    expect(info.devices).toHaveLength(info.deviceCount);
    for (const device of info.devices) {
      expect(device.name.length).toBeGreaterThan(0);
      expect(device.totalMemory).toBeGreaterThan(device.freeMemory);
      expect(device.computeCapability).toMatch(/^\d+\.\d+$/);
    }
  });

  it.runIf(hasDriver)("runs the scale kernel and gets the host's exact answer", () => {
    const result = cudaSelfTest(1 << 20);
    expect(result.elements).toBe(1 << 20);
    expect(result.maxAbsError).toBe(0);
  });

  it("rejects a nonsensical element count before touching the device", () => {
    expect(() => cudaSelfTest(0)).toThrow(RangeError);
    expect(() => cudaSelfTest(0)).toThrow("cudaSelfTest: element count must be in [1, 2^30]");
  });
});

// Model parts take the backend by name; on a host that cannot run it the load must reject
// with a clear error (and leave the process usable), never crash.
describe("loading model parts on the cuda backend", () => {
  const model = join(modelsDir, "tiny-sana");
  const expected = builtWithCuda ? /^no CUDA device available/ : /backend "cuda" is not in this build/;

  it.runIf(!hasDriver)("rejects each load with a clear error, then the CPU backend still works", async () => {
    await expect(loadTransformer(join(model, "transformer"), { backend: "cuda" })).rejects.toThrow(expected);
    await expect(loadVae(join(model, "vae"), { backend: "cuda" })).rejects.toThrow(expected);
    await expect(loadTextEncoder(join(model, "text_encoder"), { backend: "cuda" })).rejects.toThrow(expected);
    const cpu = await loadTransformer(join(model, "transformer"), { backend: "cpu" });
    expect(cpu.backend).toBe("cpu");
  });

  it("names the backends it knows when given another", async () => {
    await expect(loadTransformer(join(model, "transformer"), { backend: "tpu" })).rejects.toThrow(
      builtWithCuda
        ? 'unknown backend "tpu" (available: cpu, cuda)'
        : 'unknown backend "tpu" (available: cpu)',
    );
  });

  // On a GPU host `npm test` checks the kernels too: the whole golden set on CUDA, at the bf16
  // tolerance (native/tools/golden/tolerance.ts). CI machines have no GPU: native/bench/device-check.sh.
  it.runIf(builtWithCuda && hasDriver)(
    "passes every golden case on the GPU",
    { timeout: 300_000 },
    async () => {
      const report = await runGoldenSet(goldenDir, { backend: "cuda" });
      const failed = report.rows.filter((row) => row.status !== "pass");
      expect(failed).toEqual([]);
    },
  );

  it.runIf(builtWithCuda && hasDriver)("loads the transformer on the GPU", async () => {
    const gpu = await loadTransformer(join(model, "transformer"), { backend: "cuda" });
    expect(gpu.backend).toBe("cuda");
  });
});
