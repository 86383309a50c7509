import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const goldenDir = fileURLToPath(new URL("../../../test/fixtures/golden/", import.meta.url));
export const modelsDir = join(goldenDir, "models");
export const casesDir = join(goldenDir, "cases");

export const fixtureModels = [
  "tiny-sana",
  "tiny-sana-1.5",
  "tiny-sana-4k",
  "tiny-sana-sprint",
  "tiny-sana-sprint-teacher",
] as const;

export interface TempDir {
  path: string;
  remove(): void;
}

export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `sana-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A writable copy of a fixture model folder inside `dir`, for corrupting. */
export function copyModel(dir: string, model: (typeof fixtureModels)[number], name = model): string {
  const target = join(dir, name);
  cpSync(join(modelsDir, model), target, { recursive: true });
  return target;
}

export function editJson(path: string, edit: (value: Record<string, unknown>) => void): void {
  const value = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  edit(value);
  writeFileSync(path, JSON.stringify(value, null, 2));
}
