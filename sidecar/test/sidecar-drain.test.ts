import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import type { Sidecar } from "../src/server/sidecar.js";
import { RETRY_AFTER_TRAILER } from "../src/service/image-service.js";
import {
  connectClient,
  connectGenerate,
  FIXTURE_MODELS,
  type GenerateInit,
  SECRET,
  startTestSidecar,
  statusEvent,
  waitFor,
} from "./support/sidecar-clients.js";

// Shutting down without losing work: a draining sidecar refuses new jobs with UNAVAILABLE,
// reports NOT_SERVING, finishes what it admitted within the grace period and cancels the rest.

const models = [{ dir: `${FIXTURE_MODELS}tiny-sana-4k`, id: "4k" }];
// ~20 ms a step and ~1.5 s of decoding on the 4K fixture.
const medium: GenerateInit = {
  model: "4k",
  prompt: "a harbour",
  width: 2048,
  height: 2048,
  steps: 20,
  seed: 3n,
};
const endless: GenerateInit = { ...medium, width: 4096, height: 4096, steps: 100 };

function healthOf(sidecar: Sidecar) {
  return createClient(Health, createConnectTransport({ baseUrl: sidecar.url, httpVersion: "1.1" }));
}

describe("drain", () => {
  it("finishes admitted jobs, refuses new ones with UNAVAILABLE and a retry hint, then closes", async () => {
    const sidecar = await startTestSidecar({ models, drainGraceMs: 60_000 });
    const client = connectClient(sidecar);
    const inFlight = connectGenerate(client, medium);
    await waitFor(() => sidecar.service.getLoad().activeJobs === 1, 20_000, "the job to run");

    const drained = sidecar.drain();
    expect((await healthOf(sidecar).check({ service: "" })).status).toBe(
      HealthCheckResponse_ServingStatus.NOT_SERVING,
    );
    expect(sidecar.service.getLoad().draining).toBe(true);
    const refused = await connectGenerate(client, medium);
    expect([refused.code, refused.events.length]).toEqual([Code.Unavailable, 0]);
    expect(Number(refused.trailers[RETRY_AFTER_TRAILER])).toBeGreaterThan(0);

    const finished = await inFlight;
    expect(finished.code).toBe(0);
    expect(statusEvent(finished.events)?.code).toBe(0);
    await drained;
    await expect(fetch(sidecar.url)).rejects.toThrow();
  });

  it("cancels what is still running when the grace period ends, with an UNAVAILABLE status", async () => {
    const sidecar = await startTestSidecar({ models, drainGraceMs: 300 });
    const inFlight = connectGenerate(connectClient(sidecar), endless);
    await waitFor(() => sidecar.service.getLoad().activeJobs === 1, 20_000, "the job to run");
    const started = Date.now();
    await sidecar.drain();
    expect(Date.now() - started).toBeLessThan(5_000);
    const result = await inFlight;
    expect(result.code).toBe(Code.Unavailable);
    expect(statusEvent(result.events)).toMatchObject({ code: Code.Unavailable });
    expect(statusEvent(result.events)?.retryAfterMs).toBeGreaterThan(0);
  });
});

const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli/sana.ts", import.meta.url));

/** Starts `sana serve` and resolves with its URL from the "sidecar ready" log line. */
function serveProcess(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(tsx, ["--conditions", "source", cli, "serve", ...args], {
    env: { ...process.env, SANA_SIDECAR_SECRET: SECRET },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`sana serve exited with ${code} before it was ready`)));
    const lines = createInterface({ input: child.stdout ?? process.stdin });
    lines.on("line", (line) => {
      const record = JSON.parse(line) as { msg?: string; url?: string };
      if (record.msg === "sidecar ready" && record.url !== undefined) resolve({ child, url: record.url });
    });
  });
}

describe("sana serve", () => {
  it("drains on SIGTERM: the job in flight completes and the process exits 0", async () => {
    const { child, url } = await serveProcess(["--model", `4k=${FIXTURE_MODELS}tiny-sana-4k`, "--port", "0"]);
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const client = connectClient({ url });
    let running = false;
    const inFlight = connectGenerate(client, medium);
    const load = () => client.getLoad({}).then((l) => l.activeJobs);
    for (let i = 0; i < 400 && !running; i++) {
      running = (await load()) === 1;
      if (!running) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(running).toBe(true);
    child.kill("SIGTERM");
    const result = await inFlight;
    expect(result.code).toBe(0);
    expect(await exited).toBe(0);
  });
});
