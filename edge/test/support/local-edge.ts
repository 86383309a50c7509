import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

// The edge worker under `wrangler dev` (workerd, with KV, R2 and Durable Objects simulated on
// disk in a temporary directory), pointed at sidecars the test started, and API keys made
// with the project's own keys command.

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const WRANGLER = join(REPO_ROOT, "node_modules/.bin/wrangler");
const TSX = join(REPO_ROOT, "node_modules/.bin/tsx");
const KEYS = join(REPO_ROOT, "edge/scripts/keys.ts");

export interface SidecarEntry {
  readonly id: string;
  readonly url: string;
}

export interface LocalEdge {
  readonly url: string;
  readonly persistDir: string;
  createKey(name: string, limits?: { rpm?: number; concurrency?: number }): Promise<string>;
  stop(): Promise<void>;
}

export interface LocalEdgeOptions {
  readonly sidecars: readonly SidecarEntry[];
  readonly secret: string;
  readonly rpm?: number;
  readonly concurrency?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not come up at ${url}:\n${log()}`);
}

export async function startLocalEdge(options: LocalEdgeOptions): Promise<LocalEdge> {
  const persistDir = await mkdtemp(join(tmpdir(), "sana-edge-"));
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const vars = {
    SIDECARS: JSON.stringify(options.sidecars),
    SIDECAR_SECRET: options.secret,
    RATE_LIMIT_RPM: String(options.rpm ?? 1000),
    RATE_LIMIT_CONCURRENCY: String(options.concurrency ?? 16),
  };
  const args = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
  ];
  args.push("--persist-to", persistDir, "--log-level", "warn", "--show-interactive-dev-session=false");
  for (const [key, value] of Object.entries(vars)) args.push("--var", `${key}:${value}`);
  let output = "";
  const child = spawn(WRANGLER, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CI: "true",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url, child, () => output);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    persistDir,
    async createKey(name, limits = {}) {
      const args = [KEYS, "create", "--name", name, "--local", "--persist-to", persistDir];
      if (limits.rpm !== undefined) args.push("--rpm", String(limits.rpm));
      if (limits.concurrency !== undefined) args.push("--concurrency", String(limits.concurrency));
      const { stdout } = await promisify(execFile)(TSX, args, { cwd: REPO_ROOT });
      return stdout.trim();
    },
    async stop() {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      await rm(persistDir, { recursive: true, force: true });
    },
  };
}
