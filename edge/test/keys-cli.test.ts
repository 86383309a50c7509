import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSX = join(ROOT, "node_modules/.bin/tsx");
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
const run = promisify(execFile);
// No telemetry or prompts from wrangler in CI.
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" };

let persistTo: string;
const local = () => ["--local", "--persist-to", persistTo];

beforeAll(async () => {
  persistTo = await mkdtemp(join(tmpdir(), "sana-keys-"));
});

afterAll(async () => {
  await rm(persistTo, { recursive: true, force: true });
});

function keys(...args: string[]) {
  return run(TSX, ["edge/scripts/keys.ts", ...args], { cwd: ROOT, env: ENV });
}

async function kvGet(id: string): Promise<string> {
  const { stdout } = await run(WRANGLER, ["kv", "key", "get", "--binding", "KEYS", `key:${id}`, ...local()], {
    cwd: ROOT,
    env: ENV,
  });
  return stdout;
}

function splitKey(key: string): { id: string; secret: string } {
  const match = /^sk-sana-([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{43})$/.exec(key);
  if (!match?.[1] || !match[2]) throw new Error(`not a key: ${JSON.stringify(key)}`);
  return { id: match[1], secret: match[2] };
}

describe("edge/scripts/keys.ts", () => {
  it("creates a key whose local KV record holds the secret's hash and not the secret, lists it, and revokes it", async () => {
    const created = await keys(
      "create",
      "--name",
      "ci robot",
      "--rpm",
      "30",
      "--concurrency",
      "2",
      ...local(),
    );
    // stdout carries the key alone, so it can be captured by a shell.
    const key = created.stdout.trim();
    expect(created.stdout).toBe(`${key}\n`);
    const { id, secret } = splitKey(key);

    const stored = await kvGet(id);
    expect(JSON.parse(stored)).toMatchObject({
      id,
      name: "ci robot",
      hash: createHash("sha256").update(secret).digest("hex"),
      rpm: 30,
      concurrency: 2,
    });
    expect(stored).not.toContain(secret);

    const listed = await keys("list", ...local());
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\tci robot\\t\\d{4}-`, "m"));
    expect(listed.stdout).not.toContain(JSON.parse(stored).hash);

    await keys("revoke", id, ...local());
    expect(await kvGet(id)).not.toContain(id);
    expect((await keys("list", ...local())).stdout).not.toContain(id);
  });

  it("fails when revoking an id that does not exist", async () => {
    await expect(keys("revoke", "AAAAAAAAAAAA", ...local())).rejects.toMatchObject({ code: 1 });
  });

  it("refuses create without a name", async () => {
    await expect(keys("create", ...local())).rejects.toMatchObject({ code: 2 });
  });
});
