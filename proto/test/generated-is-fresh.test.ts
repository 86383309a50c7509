import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const committedGen = join(repoRoot, "proto/src/gen");
const bin = join(repoRoot, "node_modules/.bin");

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

describe("proto/src/gen", () => {
  let scratch: string | undefined;
  afterAll(async () => {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it("matches byte for byte what buf generate produces from proto/", { timeout: 60_000 }, async () => {
    scratch = await mkdtemp(join(tmpdir(), "sana-proto-gen-"));
    // buf.gen.yaml names the plugin by command; the repo's .bin holds the pinned one.
    await run(join(bin, "buf"), ["generate", "--output", scratch], {
      cwd: repoRoot,
      env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
    });
    const freshGen = join(scratch, "proto/src/gen");

    const fresh = await listFiles(freshGen);
    const committed = await listFiles(committedGen);
    expect(fresh.length, "buf generate produced no files").toBeGreaterThan(0);
    expect(committed, "file list of proto/src/gen is stale: run npm run generate").toEqual(fresh);

    const stale: string[] = [];
    for (const file of fresh) {
      const [a, b] = await Promise.all([readFile(join(freshGen, file)), readFile(join(committedGen, file))]);
      if (!a.equals(b)) stale.push(file);
    }
    expect(stale, "proto/src/gen is stale: run npm run generate").toEqual([]);
  });
});
