import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseServeArgs, UsageError } from "../src/cli/serve.js";
import { TextToImage } from "../src/engine/text-to-image.js";
import { FIXTURE_MODELS } from "./support/sidecar-clients.js";

// `sana serve --backend`: every model of a sidecar runs on one engine backend, named by the flag
// or SANA_BACKEND; a bad name is a usage error before anything loads.

const noAuth = ["--no-auth"];

describe("sana serve --backend", () => {
  it("defaults every model to the cpu backend", () => {
    const config = parseServeArgs([...noAuth, "--model", "/m/a", "--model", "b=/m/b"], {});
    expect(config.models.map((m) => m.backend)).toEqual(["cpu", "cpu"]);
  });

  it("puts every model on the backend the flag names, over SANA_BACKEND", () => {
    const fromEnv = parseServeArgs([...noAuth, "--model", "/m/a"], { SANA_BACKEND: "cuda" });
    expect(fromEnv.models[0]?.backend).toBe("cuda");
    const fromFlag = parseServeArgs([...noAuth, "--backend", "cpu", "--model", "/m/a"], {
      SANA_BACKEND: "cuda",
    });
    expect(fromFlag.models[0]?.backend).toBe("cpu");
  });

  it("rejects a backend the engine does not have, naming the choices", () => {
    expect(() => parseServeArgs([...noAuth, "--backend", "tpu"], {})).toThrow(UsageError);
    expect(() => parseServeArgs([...noAuth, "--backend", "tpu"], {})).toThrow(
      '--backend must be one of cpu, cuda, got "tpu"',
    );
  });
});

// The kernel driver publishes this file when it is loaded; without it no CUDA call can succeed.
const hasDriver = existsSync("/proc/driver/nvidia/version");

describe("a model loaded on a backend this host cannot run", () => {
  it.runIf(!hasDriver)("fails to load with the engine's reason, not a crash", async () => {
    await expect(TextToImage.load(`${FIXTURE_MODELS}tiny-sana`, { backend: "cuda" })).rejects.toThrow(
      /no CUDA device available|backend "cuda" is not in this build/,
    );
  });
});
