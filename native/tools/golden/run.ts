import { isAbsolute, join, resolve } from "node:path";
import { readSafetensors } from "../../lib/index.js";
import { CaseTensors } from "./case-tensors.js";
import { compareTensor } from "./compare.js";
import { BackendError, type ComponentHandler, type HandlerResult } from "./handler.js";
import { createHandlers } from "./handlers/index.js";
import { type Manifest, type ManifestCase, readManifest } from "./manifest.js";
import {
  describeTolerance,
  effectiveTolerance,
  type Precision,
  precisionOf,
  toleranceFor,
} from "./tolerance.js";

// Runs every case of a golden set whose component has a handler on one engine backend and
// judges each declared output against the manifest's tolerance (adapted to the backend's
// precision by tolerance.ts effectiveTolerance). Only the manifest decides what runs.

export type RowStatus = "pass" | "fail" | "unsupported";

export interface ResultRow {
  case: string;
  component: string;
  /** The output judged; "*" for a row about the whole case. */
  output: string;
  /** rel. L2 error (absolute when the reference is zero); null when nothing was compared. */
  error: number | null;
  /**
   * The bound applied: "exact", a bound like "1e-5", or "" when none applies; "1e-2 (bf16)"
   * when the backend's precision loosened the manifest's bound.
   */
  tolerance: string;
  status: RowStatus;
  note?: string;
}

export interface GoldenReport {
  setDir: string;
  /** The backend the models ran on. */
  backend: string;
  /** What that backend computes in (model-free cases always run at float32). */
  precision: Precision;
  rows: ResultRow[];
  /** True when no row failed (unsupported rows do not count). */
  ok: boolean;
  counts: Record<RowStatus, number>;
}

export interface RunOptions {
  /** The engine backend models load on: "cpu" (default), "cuda". */
  backend?: string;
  /** Replaces the engine's handlers (tests inject their own). */
  handlers?: Map<string, ComponentHandler>;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function caseRow(c: ManifestCase, status: RowStatus, note: string): ResultRow {
  return { case: c.name, component: c.component, output: "*", error: null, tolerance: "", status, note };
}

function modelDirOf(setDir: string, manifest: Manifest, c: ManifestCase): string | null {
  if (c.model === null) return null;
  const path = manifest.models[c.model]?.path;
  if (path === undefined) return null;
  return isAbsolute(path) ? path : join(setDir, path);
}

function judge(
  c: ManifestCase,
  tensors: CaseTensors,
  result: HandlerResult,
  precision: Precision,
): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const [output, spec] of Object.entries(c.outputs)) {
    const base = { case: c.name, component: c.component, output };
    const reason = result.unsupported[output];
    if (reason !== undefined) {
      rows.push({ ...base, error: null, tolerance: "", status: "unsupported", note: reason });
      continue;
    }
    const manifestTolerance = toleranceFor(c.tolerance, output, spec.dtype);
    if ("error" in manifestTolerance) {
      rows.push({ ...base, error: null, tolerance: "", status: "fail", note: manifestTolerance.error });
      continue;
    }
    const tolerance = effectiveTolerance(manifestTolerance, spec.dtype, precision);
    const described = describeTolerance(tolerance);
    const row = {
      ...base,
      tolerance:
        described === describeTolerance(manifestTolerance) ? described : `${described} (${precision})`,
    };
    const failed = result.failed?.[output];
    if (failed !== undefined) {
      rows.push({ ...row, error: null, status: "fail", note: failed });
      continue;
    }
    const mismatch = tensors.mismatch(output, spec);
    if (mismatch !== undefined) {
      rows.push({ ...row, error: null, status: "fail", note: mismatch });
      continue;
    }
    const produced = result.produced[output];
    if (produced === undefined) {
      rows.push({ ...row, error: null, status: "fail", note: "the engine produced no value for it" });
      continue;
    }
    const comparison = compareTensor(produced, tensors.entry(output), tolerance);
    rows.push({
      ...row,
      error: comparison.error,
      status: comparison.pass ? "pass" : "fail",
      ...(comparison.note === undefined ? {} : { note: comparison.note }),
    });
  }
  return rows;
}

async function runCase(
  setDir: string,
  manifest: Manifest,
  c: ManifestCase,
  handler: ComponentHandler,
  backend: string,
): Promise<ResultRow[]> {
  const reason = handler.unsupportedCase?.(c);
  if (reason !== undefined) return [caseRow(c, "unsupported", reason)];
  let tensors: CaseTensors;
  try {
    tensors = new CaseTensors(c, readSafetensors(join(setDir, c.file)));
  } catch (error) {
    return [caseRow(c, "fail", `cannot read ${c.file}: ${message(error)}`)];
  }
  // Inputs first: a handler must not run on data that contradicts the manifest.
  const badInputs = Object.entries(c.inputs)
    .map(([name, spec]) => tensors.mismatch(name, spec))
    .filter((m): m is string => m !== undefined);
  if (badInputs.length > 0) return [caseRow(c, "fail", badInputs.join("; "))];
  let result: HandlerResult;
  try {
    result = await handler.run({
      setDir,
      manifest,
      testCase: c,
      tensors,
      modelDir: modelDirOf(setDir, manifest, c),
      backend,
    });
  } catch (error) {
    // The backend itself is unusable: every case would fail alike, so the run stops.
    if (error instanceof BackendError) throw error;
    return [caseRow(c, "fail", message(error))];
  }
  const runsModel = handler.runsModel?.(c) ?? true;
  return judge(c, tensors, result, runsModel ? precisionOf(backend) : "float32");
}

/**
 * Throws GoldenSetError when the set cannot be read and BackendError when the engine cannot
 * load models on `options.backend` (unknown, or not in this build); case failures are rows,
 * not throws.
 */
export async function runGoldenSet(setDir: string, options: RunOptions = {}): Promise<GoldenReport> {
  const dir = resolve(setDir);
  const backend = options.backend ?? "cpu";
  const manifest = readManifest(dir);
  const handlers = options.handlers ?? createHandlers();
  const rows: ResultRow[] = [];
  for (const c of manifest.cases) {
    const handler = handlers.get(c.component);
    if (handler === undefined) {
      rows.push(caseRow(c, "unsupported", `no engine support for component "${c.component}"`));
      continue;
    }
    rows.push(...(await runCase(dir, manifest, c, handler, backend)));
  }
  const counts: Record<RowStatus, number> = { pass: 0, fail: 0, unsupported: 0 };
  for (const row of rows) counts[row.status] += 1;
  return { setDir: dir, backend, precision: precisionOf(backend), rows, ok: counts.fail === 0, counts };
}
