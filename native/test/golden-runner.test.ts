import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareTensor } from "../tools/golden/compare.js";
import type { ComponentHandler } from "../tools/golden/handler.js";
import { GoldenSetError, readManifest } from "../tools/golden/manifest.js";
import { type GoldenReport, runGoldenSet } from "../tools/golden/run.js";
import { toleranceFor } from "../tools/golden/tolerance.js";
import { goldenDir, makeTempDir, type TempDir } from "./helpers/fixtures.js";
import { float32Values, rawTensors, writeSafetensors } from "./helpers/safetensors.js";

// The golden runner: it must pass the fixture set, and it must notice when a set is wrong
// (a perturbed expected output, a missing tensor, no manifest) instead of passing it.

const cli = fileURLToPath(new URL("../tools/golden/cli.ts", import.meta.url));
const manifest = readManifest(goldenDir);

function runCli(setDir: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", cli, "--set", setDir], {
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
