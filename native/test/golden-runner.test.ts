import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { compareTensor } from "../tools/golden/compare.js";
import { BackendError, type ComponentHandler, modelCache } from "../tools/golden/handler.js";
import { schedulerHandler } from "../tools/golden/handlers/scheduler.js";
import { GoldenSetError, readManifest } from "../tools/golden/manifest.js";
import { type GoldenReport, runGoldenSet } from "../tools/golden/run.js";
import { formatReport } from "../tools/golden/table.js";
import { effectiveTolerance, precisionOf, toleranceFor } from "../tools/golden/tolerance.js";
import { goldenDir, makeTempDir, type TempDir } from "./helpers/fixtures.js";
import { float32Values, rawTensors, writeSafetensors } from "./helpers/safetensors.js";

// The golden runner: it must pass the fixture set, and it must notice when a set is wrong
// (a perturbed expected output, a missing tensor, no manifest) instead of passing it.

const cli = fileURLToPath(new URL("../tools/golden/cli.ts", import.meta.url));
const manifest = readManifest(goldenDir);

function runCli(
  setDir: string,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", cli, "--set", setDir, ...args], {
    encoding: "utf8",
    env: process.env,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A copy of the fixture set's cases (models linked, not copied) that tests may edit. */
function copySet(temp: TempDir, name: string): string {
  const dir = join(temp.path, name);
  mkdirSync(dir);
  symlinkSync(join(goldenDir, "models"), join(dir, "models"));
  cpSync(join(goldenDir, "cases"), join(dir, "cases"), { recursive: true });
  return dir;
}

function editManifest(setDir: string, edit: (value: { cases: Record<string, unknown>[] }) => void): void {
  const path = join(setDir, "cases", "manifest.json");
  const value = JSON.parse(readFileSync(path, "utf8")) as { cases: Record<string, unknown>[] };
  edit(value);
  writeFileSync(path, JSON.stringify(value));
}

const firstScheduler = manifest.cases.find((c) => c.component === "scheduler");

describe("the golden runner on the fixture set", () => {
  let report: GoldenReport;
  beforeAll(async () => {
    report = await runGoldenSet(goldenDir);
  });

  it("passes every case it supports", () => {
    const failures = report.rows.filter((r) => r.status === "fail");
    expect(failures).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("runs on the cpu backend by default, at the manifest's float32 tolerances", () => {
    expect(report.backend).toBe("cpu");
    expect(report.precision).toBe("float32");
    expect(formatReport(report).split("\n")[0]).toBe("backend: cpu (float32)");
    expect(report.rows.some((r) => r.tolerance.includes("bf16"))).toBe(false);
  });

  it("compares every output of every scheduler and transformer case", () => {
    for (const c of manifest.cases.filter(
      (x) => x.component === "scheduler" || x.component === "transformer",
    )) {
      const rows = report.rows.filter((r) => r.case === c.name);
      expect(rows.map((r) => r.output).sort()).toEqual(Object.keys(c.outputs).sort());
      for (const row of rows) expect(row.status, `${c.name}/${row.output}`).toBe("pass");
    }
  });

  it("runs every denoising pipeline case end to end, from the prompts to the image", () => {
    const denoising = manifest.cases.filter(
      (c) => c.component === "pipeline" && Object.hasOwn(c.inputs, "latents"),
    );
    expect(denoising.length).toBeGreaterThan(0);
    for (const c of denoising) {
      const rows = report.rows.filter((r) => r.case === c.name);
      expect(rows.map((r) => r.output).sort()).toEqual(Object.keys(c.outputs).sort());
      for (const row of rows) expect(row.status, `${c.name}/${row.output}`).toBe("pass");
    }
  });
});

describe("the golden runner on broken sets", () => {
  let temp: TempDir;
  let baselineFailures: Set<string>;
  beforeAll(async () => {
    temp = makeTempDir("golden-runner");
    const baseline = await runGoldenSet(goldenDir);
    baselineFailures = new Set(
      baseline.rows.filter((r) => r.status === "fail").map((r) => `${r.case}/${r.output}`),
    );
  });
  afterAll(() => temp.remove());

  it("fails (and the CLI exits 1) when one expected output is perturbed", async () => {
    if (firstScheduler === undefined) throw new Error("the fixture set has no scheduler case");
    const dir = copySet(temp, "perturbed");
    const file = join(dir, firstScheduler.file);
    const tensors = rawTensors(file);
    const prev = tensors.prev_samples;
    if (prev === undefined) throw new Error(`${firstScheduler.file} has no prev_samples`);
    const values = float32Values(prev.bytes).map((v) => v * 1.001);
    tensors.prev_samples = { ...prev, bytes: new Uint8Array(values.buffer) };
    writeSafetensors(file, tensors);

    const report = await runGoldenSet(dir);
    expect(report.ok).toBe(false);
    // Exactly the perturbed output fails, whatever else the set's state is.
    const newlyFailed = report.rows.filter(
      (r) => r.status === "fail" && !baselineFailures.has(`${r.case}/${r.output}`),
    );
    expect(newlyFailed.map((r) => `${r.case}/${r.output}`)).toEqual([`${firstScheduler.name}/prev_samples`]);
    expect(newlyFailed[0]?.error).toBeCloseTo(0.001 / 1.001, 4);

    const run = runCli(dir);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`${firstScheduler.name}\\s+scheduler\\s+prev_samples.*FAIL`));
  });

  it("fails a supported case whose file lacks a declared output", async () => {
    if (firstScheduler === undefined) throw new Error("the fixture set has no scheduler case");
    const dir = copySet(temp, "missing-output");
    const file = join(dir, firstScheduler.file);
    const tensors = rawTensors(file);
    delete tensors.sigmas;
    writeSafetensors(file, tensors);
    const report = await runGoldenSet(dir);
    const row = report.rows.find((r) => r.case === firstScheduler.name && r.output === "sigmas");
    expect(row?.status).toBe("fail");
    expect(row?.note).toMatch(/not in/);
    expect(report.ok).toBe(false);
  });

  it("fails a supported case whose input contradicts the manifest", async () => {
    if (firstScheduler === undefined) throw new Error("the fixture set has no scheduler case");
    const dir = copySet(temp, "bad-input");
    editManifest(dir, (m) => {
      const c = m.cases.find((x) => x.name === firstScheduler.name) as {
        inputs: Record<string, { shape: number[] }>;
      };
      const sample0 = c.inputs.sample0;
      if (sample0 !== undefined) sample0.shape = [...sample0.shape, 1];
    });
    const report = await runGoldenSet(dir);
    const rows = report.rows.filter((r) => r.case === firstScheduler.name);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.status).toBe("fail");
    expect(rows[0]?.note).toMatch(/sample0.*shape/);
  });

  it("follows the manifest: a case added under an unknown component is unsupported, a handler's throw fails", async () => {
    if (firstScheduler === undefined) throw new Error("the fixture set has no scheduler case");
    const dir = copySet(temp, "edited-manifest");
    editManifest(dir, (m) => {
      m.cases.push({ ...m.cases[0], name: "extra_case", component: "hologram" });
    });
    const throwing: ComponentHandler = {
      component: "scheduler",
      run: () => Promise.reject(new Error("engine exploded")),
    };
    const report = await runGoldenSet(dir, { handlers: new Map([["scheduler", throwing]]) });
    expect(report.rows.find((r) => r.case === "extra_case")?.status).toBe("unsupported");
    const schedulerRows = report.rows.filter((r) => r.component === "scheduler");
    expect(schedulerRows.length).toBeGreaterThan(0);
    for (const row of schedulerRows) {
      expect(row.status).toBe("fail");
      expect(row.note).toMatch(/engine exploded/);
    }
  });

  it("refuses a set without a manifest (and the CLI exits 2 naming it)", async () => {
    const dir = join(temp.path, "no-manifest");
    mkdirSync(join(dir, "cases"), { recursive: true });
    await expect(runGoldenSet(dir)).rejects.toThrow(GoldenSetError);
    await expect(runGoldenSet(dir)).rejects.toThrow(/manifest\.json/);
    const run = runCli(dir);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/manifest\.json/);
  });

  it("refuses a malformed manifest, naming the field", async () => {
    const dir = copySet(temp, "malformed");
    editManifest(dir, (m) => {
      const c = m.cases[1] as { outputs: Record<string, { shape: unknown }> };
      const first = Object.values(c.outputs)[0];
      if (first !== undefined) first.shape = "big";
    });
    await expect(runGoldenSet(dir)).rejects.toThrow(/cases\[1\]\.outputs\.\w+\.shape/);
    rmSync(join(dir, "cases", "manifest.json"));
    writeFileSync(join(dir, "cases", "manifest.json"), "{ not json");
    await expect(runGoldenSet(dir)).rejects.toThrow(/invalid JSON/);
  });

  it("refuses a directory that does not exist", async () => {
    await expect(runGoldenSet(join(temp.path, "nowhere"))).rejects.toThrow(/not a directory/);
  });
});

describe("the golden runner's --backend", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("stops with status 2 and the engine's message on a backend the engine does not have", () => {
    const run = runCli(goldenDir, "--backend", "tpu");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^golden: .*backend "tpu"/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run.stdout).toBe("");
    const equals = runCli(goldenDir, "--backend=tpu");
    expect(equals.status).toBe(2);
    expect(equals.stderr).toMatch(/backend "tpu"/);
  });

  it("rejects --backend without a name", () => {
    const run = runCli(goldenDir, "--backend");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--backend needs a backend name/);
  });

  it("turns an engine backend refusal into a BackendError and a model on the wrong backend into a failure", async () => {
    const refused = modelCache("transformer", (_dir, backend) =>
      Promise.reject(new Error(`unknown backend "${backend}" (available: cpu)`)),
    );
    await expect(refused("/m", "tpu")).rejects.toBeInstanceOf(BackendError);
    const notBuilt = modelCache("transformer", () =>
      Promise.reject(
        new Error('backend "cuda" is not in this build (it was compiled without the CUDA backend)'),
      ),
    );
    await expect(notBuilt("/m", "cuda")).rejects.toBeInstanceOf(BackendError);
    const broken = modelCache("transformer", () => Promise.reject(new Error("no config.json in /m")));
    await expect(broken("/m", "cuda")).rejects.not.toBeInstanceOf(BackendError);
    const ignoring = modelCache(
      "VAE",
      () => Promise.resolve({ backend: "cpu" }),
      (m) => m.backend,
    );
    await expect(ignoring("/m", "cuda")).rejects.toThrow(/VAE loaded on backend "cpu", not "cuda"/);
    await expect(ignoring("/m", "cpu")).resolves.toEqual({ backend: "cpu" });
  });

  it("judges a model case at bf16 bounds on cuda, and at the manifest's with SANA_CUDA_GEMM=fp32", async () => {
    // The real scheduler, posing as a model-running handler on cuda: the run never loads a
    // model, so this needs no CUDA build.
    const posing: ComponentHandler = { ...schedulerHandler, runsModel: () => true };
    const handlers = new Map([["scheduler", posing]]);
    vi.stubEnv("SANA_CUDA_GEMM", "");
    const bf16 = await runGoldenSet(goldenDir, { backend: "cuda", handlers });
    expect(bf16.precision).toBe("bf16");
    expect(formatReport(bf16).split("\n")[0]).toBe("backend: cuda (bf16 GEMMs)");
    const row = (output: string, c: string) => bf16.rows.find((r) => r.case === c && r.output === output);
    expect(row("prev_samples", "scheduler_dpm_shift3_4steps")?.tolerance).toBe("1e-2 (bf16)");
    expect(row("sigmas", "scheduler_dpm_shift3_4steps")?.tolerance).toBe("1e-2 (bf16)");
    expect(row("timesteps", "scheduler_dpm_shift3_4steps")?.tolerance).toBe("exact"); // int64
    for (const r of bf16.rows.filter((x) => x.component === "scheduler")) expect(r.status).toBe("pass");

    vi.stubEnv("SANA_CUDA_GEMM", "fp32");
    const fp32 = await runGoldenSet(goldenDir, { backend: "cuda", handlers });
    expect(fp32.precision).toBe("float32");
    expect(formatReport(fp32).split("\n")[0]).toBe("backend: cuda (fp32 GEMMs, SANA_CUDA_GEMM=fp32)");
    const fp32Row = fp32.rows.find(
      (r) => r.case === "scheduler_dpm_shift3_4steps" && r.output === "prev_samples",
    );
    expect(fp32Row?.tolerance).toBe("1e-5");
  });

  it("fails the one output a handler could not compute, judging the others", async () => {
    const partial: ComponentHandler = {
      ...schedulerHandler,
      run: async (context) => ({
        ...(await schedulerHandler.run(context)),
        failed: { prev_samples: 'the VAE loaded on backend "cpu", not "cuda"' },
      }),
    };
    const report = await runGoldenSet(goldenDir, { handlers: new Map([["scheduler", partial]]) });
    const rows = report.rows.filter((r) => r.component === "scheduler");
    for (const r of rows) {
      expect(r.status, `${r.case}/${r.output}`).toBe(r.output === "prev_samples" ? "fail" : "pass");
    }
    expect(rows.find((r) => r.output === "prev_samples")?.note).toMatch(/not "cuda"/);
  });

  it("keeps model-free cases at the manifest's bounds on cuda", async () => {
    vi.stubEnv("SANA_CUDA_GEMM", "");
    const handlers = new Map([["scheduler", schedulerHandler]]);
    const report = await runGoldenSet(goldenDir, { backend: "cuda", handlers });
    const rows = report.rows.filter((r) => r.component === "scheduler");
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.tolerance).not.toMatch(/bf16/);
  });
});

describe("tolerances and comparisons", () => {
  it("reads the three tolerance forms of the manifest", () => {
    expect(toleranceFor(1e-4, "x", "float32")).toEqual({ kind: "rel_l2", max: 1e-4 });
    expect(toleranceFor("exact", "x", "float32")).toEqual({ kind: "exact" });
    expect(toleranceFor({ exact: true }, "ids", "int64")).toEqual({ kind: "exact" });
    const perOutput = { metric: "rel_l2", sample: 1e-5, timesteps: "exact", fp64_vs_fp32_rel_l2: 2e-7 };
    expect(toleranceFor(perOutput, "sample", "float32")).toEqual({ kind: "rel_l2", max: 1e-5 });
    expect(toleranceFor(perOutput, "timesteps", "float32")).toEqual({ kind: "exact" });
    expect(toleranceFor(perOutput, "other", "float32")).toEqual({
      error: expect.stringMatching(/no tolerance/),
    });
    // Masks and ids the object does not mention are exact (the set's README convention).
    expect(toleranceFor(perOutput, "mask", "int64")).toEqual({ kind: "exact" });
    expect(toleranceFor({ metric: "cosine", sample: 0.1 }, "sample", "float32")).toEqual({
      error: expect.stringMatching(/metric/),
    });
  });

  it("loosens float outputs to rel. L2 1e-2 under bf16 and keeps exact integer outputs exact", () => {
    const tight = { kind: "rel_l2" as const, max: 1e-5 };
    expect(effectiveTolerance(tight, "float32", "bf16")).toEqual({ kind: "rel_l2", max: 1e-2 });
    expect(effectiveTolerance(tight, "float32", "float32")).toEqual(tight);
    // A bound already looser than bf16's is kept.
    expect(effectiveTolerance({ kind: "rel_l2", max: 0.05 }, "float32", "bf16")).toEqual({
      kind: "rel_l2",
      max: 0.05,
    });
    // Token ids, masks, timesteps, binned sizes: model-free integers stay exact.
    expect(effectiveTolerance({ kind: "exact" }, "int64", "bf16")).toEqual({ kind: "exact" });
    expect(effectiveTolerance({ kind: "exact" }, "int64", "float32")).toEqual({ kind: "exact" });
    // An 8-bit image is decoded through the model: judged like a float output.
    expect(effectiveTolerance({ kind: "exact" }, "uint8", "bf16")).toEqual({ kind: "rel_l2", max: 1e-2 });
    expect(effectiveTolerance({ kind: "exact" }, "uint8", "float32")).toEqual({ kind: "exact" });

    expect(precisionOf("cpu", {})).toBe("float32");
    expect(precisionOf("cuda", {})).toBe("bf16");
    expect(precisionOf("cuda", { SANA_CUDA_GEMM: "bf16" })).toBe("bf16");
    expect(precisionOf("cuda", { SANA_CUDA_GEMM: "fp32" })).toBe("float32");
    expect(precisionOf("cpu", { SANA_CUDA_GEMM: "bf16" })).toBe("float32");
  });

  it("fails a wrong shape, a non-finite value and an inexact 'exact' output", () => {
    const ref = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
    const tol = { kind: "rel_l2" as const, max: 1e-3 };
    expect(compareTensor({ shape: [2], data: new Float32Array([1, 2.0001]) }, ref, tol).pass).toBe(true);
    expect(compareTensor({ shape: [1, 2], data: new Float32Array([1, 2]) }, ref, tol).pass).toBe(false);
    expect(compareTensor({ shape: [2], data: new Float32Array([1, Number.NaN]) }, ref, tol).pass).toBe(false);
    const exact = compareTensor({ shape: [2], data: new Float32Array([1, 2.0001]) }, ref, { kind: "exact" });
    expect(exact.pass).toBe(false);
    expect(exact.note).toMatch(/1 of 2/);
    const ids = { dtype: "I64" as const, shape: [2], data: new BigInt64Array([5n, 7n]) };
    expect(
      compareTensor({ shape: [2], data: new BigInt64Array([5n, 7n]) }, ids, { kind: "exact" }).pass,
    ).toBe(true);
    expect(
      compareTensor({ shape: [2], data: new BigInt64Array([5n, 8n]) }, ids, { kind: "exact" }).pass,
    ).toBe(false);
  });
});
