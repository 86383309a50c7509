import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildWebClient } from "../edge/scripts/build-web.js";
import {
  createApiKey,
  hashSecret,
  type KeyRecord,
  keyRecordKvKey,
  parseApiKey,
} from "../edge/src/auth/api-keys.js";
import { ensureDefaultModel } from "./default-model.js";
import { type Started, startProcess, waitUntil } from "./processes.js";

// The whole system on one machine: a sidecar on the CPU backend with the embedded default model
// (or SANA_MODEL_DIR), and the edge worker under `wrangler dev` with KV, R2 and Durable Objects
// kept on disk, plus a development API key in that local KV.

export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const bin = (name: string) => join(REPO_ROOT, "node_modules/.bin", name);

export interface StackOptions {
  readonly edgePort: number;
  readonly sidecarPort: number;
  readonly metricsPort: number;
  /** A diffusers pipeline folder; undefined: the embedded default model. */
  readonly modelDir: string | undefined;
  /** `sk-sana-<id>.<secret>`; undefined: a new key is made. */
  readonly apiKey: string | undefined;
  /** Where wrangler keeps local KV, R2 and Durable Object state. */
  readonly stateDir: string;
  /** Progress and the children's logs. */
  readonly log: (line: string) => void;
}

export interface LocalStack {
  readonly edgeUrl: string;
  readonly sidecarUrl: string;
  readonly metricsUrl: string;
  readonly apiKey: string;
  readonly modelId: string;
  /** Stops everything the stack started (the sidecar drains first). */
  stop(): Promise<void>;
}

export const DEFAULT_PORTS = { edge: 8787, sidecar: 50051, metrics: 9464 } as const;

/** Options from the environment, as `npm start` runs. */
export function stackOptionsFromEnv(env: NodeJS.ProcessEnv, log: (line: string) => void): StackOptions {
  const port = (name: string, fallback: number) => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 0 || value > 65535)
      throw new Error(`${name} must be a port number`);
    return value;
  };
  return {
    edgePort: port("SANA_EDGE_PORT", DEFAULT_PORTS.edge),
    sidecarPort: port("SANA_SIDECAR_PORT", DEFAULT_PORTS.sidecar),
    metricsPort: port("SANA_METRICS_PORT", DEFAULT_PORTS.metrics),
    modelDir: env.SANA_MODEL_DIR || undefined,
    apiKey: env.SANA_DEV_API_KEY || undefined,
    stateDir: join(REPO_ROOT, ".cache/wrangler-state"),
    log,
  };
}

/** The KV record for a development key, whether given or newly made. */
async function devKey(given: string | undefined): Promise<{ key: string; record: KeyRecord }> {
  if (given === undefined) return createApiKey("development");
  const parts = parseApiKey(given);
  if (parts === undefined) {
    throw new Error(
      "SANA_DEV_API_KEY must look like sk-sana-<12 characters>.<43 characters>, each of A-Z a-z 0-9 _ -",
    );
  }
  const record = {
    id: parts.id,
    name: "development",
    hash: await hashSecret(parts.secret),
    createdAt: new Date().toISOString(),
  };
  return { key: given, record };
}

async function storeKey(record: KeyRecord, stateDir: string): Promise<void> {
  const args = ["kv", "key", "put", "--binding", "KEYS", keyRecordKvKey(record.id), JSON.stringify(record)];
  args.push("--local", "--persist-to", stateDir);
  await promisify(execFile)(bin("wrangler"), args, {
    cwd: REPO_ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
}

function sidecarProcess(
  options: StackOptions,
  modelDir: string,
  modelId: string,
  secret: string,
  output: string[],
): Started {
  const cli = join(REPO_ROOT, "sidecar/src/cli/sana.ts");
  return startProcess({
    name: "sidecar",
    command: bin("tsx"),
    args: [
      "--conditions",
      "source",
      cli,
      "serve",
      "--model",
      `${modelId}=${modelDir}`,
      "--host",
      "127.0.0.1",
    ].concat(["--port", String(options.sidecarPort), "--metrics-port", String(options.metricsPort)]),
    cwd: REPO_ROOT,
    env: { ...process.env, SANA_SIDECAR_SECRET: secret },
    onLine: (line) => {
      output.push(line);
      options.log(`[sidecar] ${line}`);
    },
  });
}

function edgeProcess(options: StackOptions, sidecarUrl: string, secret: string, output: string[]): Started {
  const vars = { SIDECARS: JSON.stringify([{ id: "local", url: sidecarUrl }]), SIDECAR_SECRET: secret };
  const args = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(options.edgePort),
    "--persist-to",
    options.stateDir,
  ];
  args.push("--show-interactive-dev-session=false", "--log-level", "warn");
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  return startProcess({
    name: "edge",
    command: bin("wrangler"),
    args,
    cwd: REPO_ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    onLine: (line) => {
      output.push(line);
      options.log(`[edge] ${line}`);
    },
  });
}

const answers = (url: string) => () =>
  fetch(url).then(
    (response) => response.ok,
    () => false,
  );

export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const { log } = options;
  log("building the web client");
  await buildWebClient();
  const modelDir = options.modelDir === undefined ? await ensureDefaultModel() : resolve(options.modelDir);
  const modelId = basename(modelDir);
  log(`model: ${modelDir}`);
  await mkdir(options.stateDir, { recursive: true });
  const { key, record } = await devKey(options.apiKey);
  await storeKey(record, options.stateDir);

  const secret = randomBytes(24).toString("base64url");
  const sidecarUrl = `http://127.0.0.1:${options.sidecarPort}`;
  const metricsUrl = `http://127.0.0.1:${options.metricsPort}/metrics`;
  const edgeUrl = `http://127.0.0.1:${options.edgePort}`;
  const sidecarOutput: string[] = [];
  const edgeOutput: string[] = [];
  const started: Started[] = [];
  const stop = async () => {
    // The edge first, so no new work reaches the sidecar while it drains.
    for (const process of started.reverse()) await process.stop();
  };
  try {
    const sidecar = sidecarProcess(options, modelDir, modelId, secret, sidecarOutput);
    started.push(sidecar);
    const tail = (lines: string[]) => () => lines.slice(-30).join("\n");
    await waitUntil(sidecar, "the sidecar", answers(metricsUrl), 120_000, tail(sidecarOutput));
    const edge = edgeProcess(options, sidecarUrl, secret, edgeOutput);
    started.push(edge);
    await waitUntil(
      edge,
      "the edge (wrangler dev)",
      answers(`${edgeUrl}/healthz`),
      120_000,
      tail(edgeOutput),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { edgeUrl, sidecarUrl, metricsUrl, apiKey: key, modelId, stop };
}
