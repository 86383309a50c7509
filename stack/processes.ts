import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

// Child processes the local stack runs: started with their output watched for a readiness
// signal, stopped with SIGTERM (both the sidecar and wrangler shut down cleanly on it) and
// SIGKILL if they linger.

export interface Started {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Each output line, for the caller to show or parse. */
  readonly onLine: (line: string) => void;
}

const STOP_GRACE_MS = 15_000;

export function startProcess(options: StartOptions): Started {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream !== null) createInterface({ input: stream }).on("line", options.onLine);
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves when `ready()` holds, rejects if the process exits first or `timeoutMs` passes. */
export async function waitUntil(
  started: Started,
  name: string,
  ready: () => boolean | Promise<boolean>,
  timeoutMs: number,
  recentOutput: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { exitCode } = started.child;
    if (exitCode !== null) throw new Error(`${name} exited with code ${exitCode}:\n${recentOutput()}`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} did not come up within ${timeoutMs / 1000} s:\n${recentOutput()}`);
}
