import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { JsonValue } from "../../lib/types.js";

// cases/manifest.json of a golden set, validated by hand: every field the runner relies on is
// checked here, so a malformed set fails once, with the JSON path of the problem, instead of
// deep inside a handler.

export interface TensorSpec {
  shape: number[];
  /** As the manifest writes it: "float32", "int64", ... */
  dtype: string;
}

/** A number (rel. L2 bound for every output), "exact", or the manifest's per-output object. */
export type ToleranceSpec = number | "exact" | { [key: string]: JsonValue };

export interface ManifestCase {
  name: string;
  file: string;
  /** Key into `models`, or null for model-free cases (schedulers). */
  model: string | null;
  component: string;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  params: { [key: string]: JsonValue };
  tolerance: ToleranceSpec;
}

export interface ManifestModel {
  path: string;
}

export interface Manifest {
  formatVersion: number;
  models: Record<string, ManifestModel>;
  cases: ManifestCase[];
  /** The instruction lines the set was generated with, when it records them. */
  complexHumanInstruction?: string[];
}

/** The set cannot be read: no manifest, invalid JSON, or a malformed field. */
export class GoldenSetError extends Error {
  override name = "GoldenSetError";
}

type JsonObject = { [key: string]: JsonValue };

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class Validator {
  constructor(private readonly origin: string) {}

  fail(path: string, message: string): never {
    throw new GoldenSetError(`${this.origin}: ${path} ${message}`);
  }

  object(value: JsonValue | undefined, path: string): JsonObject {
    if (!isObject(value)) this.fail(path, "must be an object");
    return value;
  }

  string(value: JsonValue | undefined, path: string): string {
    if (typeof value !== "string" || value.length === 0) this.fail(path, "must be a non-empty string");
    return value;
  }

  shape(value: JsonValue | undefined, path: string): number[] {
    if (!Array.isArray(value)) this.fail(path, "must be an array of non-negative integers");
    return value.map((d, i) => {
      if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
        this.fail(`${path}[${i}]`, "must be a non-negative integer");
      }
      return d;
    });
  }

  tensors(value: JsonValue | undefined, path: string): Record<string, TensorSpec> {
    const specs: Record<string, TensorSpec> = {};
    for (const [name, spec] of Object.entries(this.object(value ?? {}, path))) {
      const entry = this.object(spec, `${path}.${name}`);
      specs[name] = {
        shape: this.shape(entry.shape, `${path}.${name}.shape`),
        dtype: this.string(entry.dtype, `${path}.${name}.dtype`),
      };
    }
    return specs;
  }

  tolerance(value: JsonValue | undefined, path: string): ToleranceSpec {
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
    if (value === "exact") return value;
    if (isObject(value)) return value;
    return this.fail(path, 'must be a non-negative number, "exact" or an object of per-output tolerances');
  }
}

export function manifestPath(setDir: string): string {
  return join(setDir, "cases", "manifest.json");
}

export function readManifest(setDir: string): Manifest {
  if (!existsSync(setDir) || !statSync(setDir).isDirectory()) {
    throw new GoldenSetError(
      `${setDir}: not a directory (expected a golden set: models/ + cases/manifest.json)`,
    );
  }
  const path = manifestPath(setDir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new GoldenSetError(`${path}: cannot read the manifest (${reason})`);
  }
  let root: JsonValue;
  try {
    root = JSON.parse(text) as JsonValue;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new GoldenSetError(`${path}: invalid JSON (${reason})`);
  }
  return validateManifest(root, path);
}

export function validateManifest(root: JsonValue, origin: string): Manifest {
  // Annotated: TypeScript narrows after a never-returning call only through typed references.
  const v: Validator = new Validator(origin);
  const top = v.object(root, "(root)");
  const formatVersion = top.format_version;
  if (formatVersion !== 1)
    v.fail("format_version", `is ${JSON.stringify(formatVersion)}; this runner reads version 1`);
  const rawCases = top.cases;

  const models: Record<string, ManifestModel> = {};
  for (const [name, model] of Object.entries(v.object(top.models ?? {}, "models"))) {
    models[name] = { path: v.string(v.object(model, `models.${name}`).path, `models.${name}.path`) };
  }

  if (!Array.isArray(rawCases)) v.fail("cases", "must be an array");
  const seen = new Set<string>();
  const cases = rawCases.map((raw, i): ManifestCase => {
    const at = `cases[${i}]`;
    const c = v.object(raw, at);
    const name = v.string(c.name, `${at}.name`);
    if (seen.has(name)) v.fail(`${at}.name`, `repeats case "${name}"`);
    seen.add(name);
    const model = c.model === null || c.model === undefined ? null : v.string(c.model, `${at}.model`);
    if (model !== null && models[model] === undefined)
      v.fail(`${at}.model`, `names "${model}", which models does not list`);
    return {
      name,
      file: v.string(c.file, `${at}.file`),
      model,
      component: v.string(c.component, `${at}.component`),
      inputs: v.tensors(c.inputs, `${at}.inputs`),
      outputs: v.tensors(c.outputs, `${at}.outputs`),
      params: v.object(c.params ?? {}, `${at}.params`),
      tolerance: v.tolerance(c.tolerance, `${at}.tolerance`),
    };
  });
  const chi = top.complex_human_instruction;
  if (chi === undefined || chi === null) return { formatVersion, models, cases };
  if (!Array.isArray(chi) || !chi.every((line): line is string => typeof line === "string")) {
    v.fail("complex_human_instruction", "must be a list of strings");
  }
  return { formatVersion, models, cases, complexHumanInstruction: chi };
}
