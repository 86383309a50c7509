import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService } from "@sana-edge/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type Sidecar, type SidecarConfig, startSidecar } from "../src/index.js";

// `sana health` as a container HEALTHCHECK runs it: a real sidecar on loopback, the CLI as a child
// process, the exit status as the verdict (0 SERVING, 1 anything else, 2 bad usage).

const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli/sana.ts", import.meta.url));
const models = fileURLToPath(new URL("../../test/fixtures/golden/models/", import.meta.url));
const SECRET = "health-test-secret-0123456789";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function sanaHealth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const started = Date.now();
  const child = spawn(tsx, ["--conditions", "source", cli, "health", ...args], {
    env: { ...process.env, SANA_PORT: "", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    stdout += text;
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  return new Promise((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })),
  );
}

function start(overrides: Partial<SidecarConfig> = {}): Promise<Sidecar> {
  return startSidecar({
    models: [{ dir: `${models}tiny-sana` }],
    host: "127.0.0.1",
    port: 0,
    secret: SECRET,
    maxQueueDepth: 4,
    maxBatchSize: 1,
    drainGraceMs: 60_000,
    log: createLogger({ level: "silent" }),
    ...overrides,
  });
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("sana health against a serving sidecar", () => {
  let sidecar: Sidecar;
  beforeAll(async () => {
    sidecar = await start();
  });
  afterAll(() => sidecar.close());

  it("exits 0 and prints SERVING for the whole server, without credentials", async () => {
    const run = await sanaHealth(["--port", String(sidecar.port)]);
    expect([run.code, run.stdout.trim()], run.stderr).toEqual([0, "SERVING"]);
  });

  it("exits 0 for the image service by name, taking the port from SANA_PORT", async () => {
    const run = await sanaHealth(["--service", "sana.v1.ImageService"], { SANA_PORT: String(sidecar.port) });
    expect(run.code, run.stderr).toBe(0);
  });

  it("exits 1 naming the problem for a service the sidecar does not know", async () => {
    const run = await sanaHealth(["--port", String(sidecar.port), "--service", "no.such.Service"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/not_found: unknown service "no.such.Service"/);
  });

  it("exits 2 with the usage for a bad port or an unknown flag", async () => {
    const [badPort, unknownFlag] = await Promise.all([
      sanaHealth(["--port", "http"]),
      sanaHealth(["--port", String(sidecar.port), "--verbose"]),
    ]);
    expect([badPort.code, unknownFlag.code]).toEqual([2, 2]);
    expect(badPort.stderr).toMatch(/--port must be an integer/);
    expect(unknownFlag.stderr).toMatch(/usage: sana health/);
  });
});

describe("sana health when the sidecar cannot serve", () => {
  it("exits 1 with NOT_SERVING while the sidecar drains admitted work", async () => {
    const sidecar = await start({ models: [{ dir: `${models}tiny-sana-4k`, id: "slow" }] });
    const controller = new AbortController();
    try {
      const client = createClient(
        ImageService,
        createConnectTransport({ baseUrl: sidecar.url, httpVersion: "1.1" }),
      );
      // ~75 ms a step at 4096² on this fixture: the job keeps the drain open for seconds.
      const job = (async () => {
        const stream = client.generate(
          { model: "slow", prompt: "a long night", width: 4096, height: 4096, steps: 100, seed: 1n },
          { headers: { authorization: `Bearer ${SECRET}` }, signal: controller.signal },
        );
        for await (const _ of stream);
      })().catch(() => undefined);
      const deadline = Date.now() + 20_000;
      while (sidecar.service.getLoad().activeJobs === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sidecar.service.getLoad().activeJobs).toBe(1);

      const draining = sidecar.drain();
      const run = await sanaHealth(["--port", String(sidecar.port)]);
      expect(sidecar.service.getLoad().draining).toBe(true);
      expect([run.code, run.stderr.trim()]).toEqual([1, "sana health: NOT_SERVING"]);

      // The sidecar answered (NOT_SERVING, not "unavailable") because the job still holds the drain open.
      expect(sidecar.service.getLoad().activeJobs).toBe(1);
      controller.abort();
      await sidecar.close();
      await Promise.all([draining, job]);
    } finally {
      controller.abort();
      await sidecar.close();
    }
  });

  it("exits 1 at once when nothing listens on the port", async () => {
    const run = await sanaHealth(["--port", String(await closedPort())]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/unavailable: .*ECONNREFUSED/);
  });

  it("exits 1 within its timeout when the port accepts but never answers", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const run = await sanaHealth(["--port", String(port), "--timeout-ms", "300"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/deadline_exceeded|canceled/);
      // tsx's own start-up is most of this; the check itself gives up after 300 ms.
      expect(run.ms).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });
});

const openssl = spawnSync("openssl", ["version"]).status === 0;
if (!openssl) console.warn("cli-health.test.ts: the openssl binary is missing, so the TLS test is skipped");

describe.skipIf(!openssl)("sana health --tls", () => {
  const dir = mkdtempSync(join(tmpdir(), "sana-health-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("verifies the certificate for --server-name when connecting by address", async () => {
    const [key, cert] = [join(dir, "tls.key"), join(dir, "tls.crt")];
    const made = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sidecar.test", "-days", "1"]
        // Only a DNS name: connecting to 127.0.0.1 verifies only when told which name to expect.
        .concat(["-addext", "subjectAltName=DNS:sidecar.test", "-keyout", key, "-out", cert]),
      { encoding: "utf8" },
    );
    expect(made.status, made.stderr).toBe(0);
    const sidecar = await start({ tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      const port = String(sidecar.port);
      const trust = { NODE_EXTRA_CA_CERTS: cert };
      const [named, unnamed, plain] = await Promise.all([
        sanaHealth(["--port", port, "--tls", "--server-name", "sidecar.test"], trust),
        sanaHealth(["--port", port, "--tls"], trust),
        sanaHealth(["--port", port]),
      ]);
      expect([named.code, named.stdout.trim()], named.stderr).toEqual([0, "SERVING"]);
      expect(unnamed.code).toBe(1);
      expect(unnamed.stderr).toMatch(/IP: 127.0.0.1 is not in the cert's list|altnames/i);
      expect(plain.code).toBe(1);
    } finally {
      await sidecar.close();
    }
  });
});
