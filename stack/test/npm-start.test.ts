import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { expect, it } from "vitest";
import { DEFAULT_PORTS, REPO_ROOT } from "../local-stack.js";

// The README's first command, as a newcomer runs it: `npm start` comes up on the documented
// ports with the embedded model, answers, and stops everything cleanly on Ctrl-C (SIGINT to
// the whole process group, as a terminal sends it).

/** Whether any process of the group still exists (signal 0 only checks). */
function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

const DEV_KEY = "sk-sana-devkeyTEST01.known-secret-for-scripts-0123456789abcdefgh";

it("npm start comes up on port 8787, answers, and shuts down cleanly on SIGINT", async () => {
  const child = spawn("npm", ["start"], {
    cwd: REPO_ROOT,
    env: { ...process.env, SANA_DEV_API_KEY: DEV_KEY, SANA_MODEL_DIR: "" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const banner = await new Promise<string>((resolve, reject) => {
    let text = "";
    createInterface({ input: child.stdout ?? process.stdin }).on("line", (line) => {
      text += `${line}\n`;
      if (line.startsWith("Ctrl-C")) resolve(text);
    });
    child.once("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });
  const edge = `http://127.0.0.1:${DEFAULT_PORTS.edge}`;
  expect(banner).toContain(`localhost:${DEFAULT_PORTS.edge}/#key=${DEV_KEY}`);
  expect(banner).toMatch(/random weights/);

  const page = await fetch(`${edge}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/<html/i);
  const models = await fetch(`${edge}/v1/models`, { headers: { authorization: `Bearer ${DEV_KEY}` } });
  expect(models.status).toBe(200);
  const { data } = (await models.json()) as { data: { id: string }[] };
  expect(data.map((m) => m.id)).toEqual(["sana-tiny-random"]);

  const group = child.pid ?? 0;
  process.kill(-group, "SIGINT");
  await exited;
  // npm itself dies of the SIGINT, as in a terminal; what matters is that nothing it started
  // outlives it: the whole process group (sidecar, wrangler, workerd) is gone.
  await expect.poll(() => groupAlive(group), { timeout: 30_000, interval: 200 }).toBe(false);
  expect(output).toMatch(/stopping/);
  await expect(fetch(`${edge}/healthz`)).rejects.toThrow();
  await expect(fetch(`http://127.0.0.1:${DEFAULT_PORTS.sidecar}/`)).rejects.toThrow();
}, 600_000);
