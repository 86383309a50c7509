import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@sana-edge/proto";

// `sana health`: one grpc.health.v1.Health/Check over gRPC (HTTP/2, h2c without TLS), what a container
// HEALTHCHECK or a script runs; Kubernetes uses its native gRPC probe against the same service instead.
// Exit status: 0 SERVING, 1 anything else (NOT_SERVING while loading or draining, unknown service, no
// answer within the timeout, nothing listening), 2 bad usage.

export const healthUsage = `usage: sana health [--host 127.0.0.1] [--port 50051] [--service NAME] [--tls [--server-name NAME]]
       [--timeout-ms 2000]
Asks grpc.health.v1.Health/Check; exits 0 when the answer is SERVING, 1 otherwise, 2 on bad usage.
--service "" (the default) is the whole server; sana.v1.ImageService is the image service.
--port defaults to SANA_PORT, else 50051. --tls verifies the certificate (NODE_EXTRA_CA_CERTS adds a CA)
for --server-name, else for --host.`;

export interface HealthCheckOptions {
  readonly host: string;
  readonly port: number;
  /** "" asks about the whole server. */
  readonly service: string;
  readonly tls: boolean;
  /** The name the TLS certificate must carry when it differs from host (e.g. host 127.0.0.1). */
  readonly serverName?: string;
  readonly timeoutMs: number;
}

export interface HealthCheckResult {
  readonly serving: boolean;
  /** The serving status ("SERVING", "NOT_SERVING", ...) or why there was none ("unavailable: ..."). */
  readonly status: string;
}

class HealthUsageError extends Error {}

/** One Health/Check; never throws for an unhealthy or unreachable server. */
export async function checkHealth(options: HealthCheckOptions): Promise<HealthCheckResult> {
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const baseUrl = `${options.tls ? "https" : "http"}://${host}:${options.port}`;
  // Our own session manager, so the connection is closed as soon as the answer is in and the process
  // exits at once instead of keeping an idle HTTP/2 session open.
  const sessionManager = new Http2SessionManager(
    baseUrl,
    {},
    options.serverName === undefined ? {} : { servername: options.serverName },
  );
  const client = createClient(Health, createGrpcTransport({ baseUrl, sessionManager }));
  try {
    const response = await client.check(
      { service: options.service },
      // timeoutMs sends grpc-timeout; the signal also bounds connecting to a host that never answers.
      { timeoutMs: options.timeoutMs, signal: AbortSignal.timeout(options.timeoutMs) },
    );
    return {
      serving: response.status === ServingStatus.SERVING,
      status: ServingStatus[response.status] ?? `status ${response.status}`,
    };
  } catch (error) {
    const reason = ConnectError.from(error);
    const code = Code[reason.code].replace(/(?<=[a-z])(?=[A-Z])/g, "_").toLowerCase();
    return { serving: false, status: `${code}: ${reason.rawMessage}` };
  } finally {
    sessionManager.abort();
  }
}

function parseHealthArgs(args: readonly string[], env: NodeJS.ProcessEnv): HealthCheckOptions {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: env.SANA_PORT || "50051" },
      service: { type: "string", default: "" },
      tls: { type: "boolean", default: false },
      "server-name": { type: "string" },
      "timeout-ms": { type: "string", default: "2000" },
    },
  });
  if (positionals.length > 0) throw new HealthUsageError(`unexpected argument "${positionals[0]}"`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new HealthUsageError(`--port must be an integer from 1 to 65535, got "${values.port}"`);
  const timeoutMs = Number(values["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new HealthUsageError(`--timeout-ms must be a positive integer, got "${values["timeout-ms"]}"`);
  const serverName = values["server-name"];
  if (serverName !== undefined && !values.tls) throw new HealthUsageError("--server-name needs --tls");
  return {
    host: values.host,
    port,
    service: values.service,
    tls: values.tls,
    ...(serverName === undefined ? {} : { serverName }),
    timeoutMs,
  };
}

/** `sana health ARGS`: sets process.exitCode (0 SERVING, 1 not, 2 usage) and never rejects. */
export async function health(args: readonly string[]): Promise<void> {
  let options: HealthCheckOptions;
  try {
    options = parseHealthArgs(args, process.env);
  } catch (error) {
    process.stderr.write(`sana health: ${error instanceof Error ? error.message : String(error)}\n`);
    process.stderr.write(`${healthUsage}\n`);
    process.exitCode = 2;
    return;
  }
  const result = await checkHealth(options);
  if (result.serving) {
    process.stdout.write(`${result.status}\n`);
    process.exitCode = 0;
  } else {
    process.stderr.write(`sana health: ${result.status}\n`);
    process.exitCode = 1;
  }
}
