import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { ModelSource } from "../engine/served-model.js";
import { createLogger } from "../ops/log.js";
import { DEFAULT_SIDECAR_CONFIG, type SidecarConfig, startSidecar } from "../server/sidecar.js";

// `sana serve`: the GPU host's sidecar. Flags override environment variables (what a
// container sets); SIGTERM and SIGINT drain and exit 0.

export const serveUsage = `usage: sana serve [--model [ID=]DIR]... [--revision ID=REV]... [--backend cpu|cuda] [--host 127.0.0.1] [--port 50051]
       [--tls-cert FILE --tls-key FILE] [--secret-file FILE | --no-auth] [--max-queue 16] [--max-batch 4]
       [--drain-grace-seconds 30] [--metrics-port PORT] [--log-level info]
Environment: SANA_MODEL_DIR (default model), SANA_SIDECAR_SECRET (the edge's shared secret, ≥ 16 characters),
SANA_SIDECAR_PREVIOUS_SECRET (also accepted while the secret is rotated),
SANA_BACKEND (the engine backend, default cpu), SANA_HOST, SANA_PORT, SANA_METRICS_PORT.`;

const defaultModel = fileURLToPath(
  new URL("../../../test/fixtures/golden/models/tiny-sana", import.meta.url),
);

export class UsageError extends Error {
  override readonly name = "UsageError";
}

function whole(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${text}"`);
  return value;
}

function pair(name: string, text: string): [string, string] | undefined {
  const at = text.indexOf("=");
  if (at < 0) return undefined;
  const key = text.slice(0, at);
  const value = text.slice(at + 1);
  if (key === "" || value === "") throw new UsageError(`--${name} expects ID=VALUE, got "${text}"`);
  return [key, value];
}

const BACKENDS = ["cpu", "cuda"] as const;

function backendOf(text: string): string {
  if (!(BACKENDS as readonly string[]).includes(text))
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got "${text}"`);
  return text;
}

function modelSources(
  models: readonly string[],
  revisions: readonly string[],
  backend: string,
  env: NodeJS.ProcessEnv,
): ModelSource[] {
  const revisionOf = new Map(revisions.map((text) => pair("revision", text) ?? ["", text]));
  if (revisionOf.has("")) throw new UsageError("--revision expects ID=REV");
  const specs = models.length > 0 ? models : [env.SANA_MODEL_DIR || defaultModel];
  const sources = specs.map((text): ModelSource => {
    const [id, dir] = pair("model", text) ?? [undefined, text];
    const base = id === undefined ? { dir, backend } : { dir, id, backend };
    const key =
      id ??
      dir
        .replace(/[/\\]+$/, "")
        .split(/[/\\]/)
        .pop() ??
      dir;
    const revision = revisionOf.get(key);
    return revision === undefined ? base : { ...base, revision };
  });
  return sources;
}

function secretFrom(file: string | undefined, noAuth: boolean, env: NodeJS.ProcessEnv): string | undefined {
  if (noAuth) return undefined;
  const secret = file === undefined ? env.SANA_SIDECAR_SECRET : readFileSync(file, "utf8").trim();
  if (secret === undefined || secret === "") {
    throw new UsageError(
      "set SANA_SIDECAR_SECRET or --secret-file (the edge's shared secret), or pass --no-auth for local use",
    );
  }
  return secret;
}

/** The sidecar configuration `args` (after "serve") and `env` describe. */
export function parseServeArgs(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): SidecarConfig & { logLevel: string } {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: "string", multiple: true, default: [] },
      revision: { type: "string", multiple: true, default: [] },
      backend: { type: "string", default: env.SANA_BACKEND || "cpu" },
      host: { type: "string", default: env.SANA_HOST ?? DEFAULT_SIDECAR_CONFIG.host },
      port: { type: "string", default: env.SANA_PORT ?? String(DEFAULT_SIDECAR_CONFIG.port) },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "secret-file": { type: "string" },
      "no-auth": { type: "boolean", default: false },
      "max-queue": { type: "string", default: String(DEFAULT_SIDECAR_CONFIG.maxQueueDepth) },
      "max-batch": { type: "string", default: String(DEFAULT_SIDECAR_CONFIG.maxBatchSize) },
      "drain-grace-seconds": { type: "string", default: String(DEFAULT_SIDECAR_CONFIG.drainGraceMs / 1000) },
      "metrics-port": {
        type: "string",
        ...(env.SANA_METRICS_PORT ? { default: env.SANA_METRICS_PORT } : {}),
      },
      "log-level": { type: "string", default: "info" },
    },
  });
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError("--tls-cert and --tls-key go together");
  const metricsPort = values["metrics-port"];
  return {
    models: modelSources(values.model, values.revision, backendOf(values.backend), env),
    host: values.host,
    port: whole("port", values.port, 0),
    ...(cert === undefined || key === undefined
      ? {}
      : { tls: { cert: readFileSync(cert), key: readFileSync(key) } }),
    secret: secretFrom(values["secret-file"], values["no-auth"], env),
    ...(env.SANA_SIDECAR_PREVIOUS_SECRET && !values["no-auth"]
      ? { previousSecret: env.SANA_SIDECAR_PREVIOUS_SECRET }
      : {}),
    maxQueueDepth: whole("max-queue", values["max-queue"], 0),
    maxBatchSize: whole("max-batch", values["max-batch"], 1),
    drainGraceMs: whole("drain-grace-seconds", values["drain-grace-seconds"], 0) * 1000,
    ...(metricsPort === undefined ? {} : { metricsPort: whole("metrics-port", metricsPort, 0) }),
    logLevel: values["log-level"],
  };
}

/** Runs the sidecar until SIGTERM or SIGINT, then drains and exits 0. */
export async function serve(args: readonly string[]): Promise<void> {
  const { logLevel, ...config } = parseServeArgs(args, process.env);
  const log = createLogger({ level: logLevel });
  const sidecar = await startSidecar({ ...config, log });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    sidecar.drain().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
