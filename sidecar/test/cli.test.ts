import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";

// `sana generate` as a person runs it: a model folder in, a PNG out, errors as messages.

const cli = fileURLToPath(new URL("../src/cli/sana.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
const model = fileURLToPath(new URL("../../test/fixtures/golden/models/tiny-sana", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "sana-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sana(...args: string[]) {
  return spawnSync(tsx, [cli, ...args], { encoding: "utf8", env: { ...process.env, SANA_MODEL_DIR: "" } });
}

describe("sana generate", () => {
  it("writes a PNG of the requested size from a fixture model, with plain progress lines off a terminal", async () => {
    const out = join(dir, "fox.png");
    const run = sana(
      "generate",
      "--model",
      model,
      "--prompt",
      "a red fox",
      "-o",
      out,
      "--width",
      "96",
      "--height",
      "64",
      "--steps",
      "2",
      "--seed",
      "5",
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/denoising 2\/2/);
    const meta = await sharp(readFileSync(out)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 96, 64]);
  });

  it("exits non-zero with a message for a size that is not a multiple of 32", () => {
    const run = sana("generate", "a fox", "--model", model, "-o", join(dir, "bad.png"), "--width", "100");
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/width must be a positive multiple of 32/);
  });

  it("exits non-zero naming the missing model folder", () => {
    const run = sana("generate", "a fox", "--model", join(dir, "nowhere"), "-o", join(dir, "x.png"));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/nowhere/);
  });

  it("prints usage and exits 2 without a prompt", () => {
    const run = sana("generate");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/usage: sana generate/);
  });
});
