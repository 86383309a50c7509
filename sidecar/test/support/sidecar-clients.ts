import { fileURLToPath } from "node:url";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { type Client, type Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import {
  type GenerateRequest,
  GenerateRequestSchema,
  type GenerateResponse,
  GenerateResponseSchema,
  ImageService,
} from "@sana-edge/proto";
import { createLogger } from "../../src/ops/log.js";
import { type Sidecar, type SidecarConfig, startSidecar } from "../../src/server/sidecar.js";

// Real sidecars on loopback and the clients the tests call them with: @grpc/grpc-js (plain
// gRPC over HTTP/2) and connect-es (Connect and gRPC-Web over HTTP/1.1, what the edge sends).

export const FIXTURE_MODELS = fileURLToPath(
  new URL("../../../test/fixtures/golden/models/", import.meta.url),
);
export const SECRET = "test-secret-0123456789abcdef";

export async function startTestSidecar(overrides: Partial<SidecarConfig> = {}): Promise<Sidecar> {
  return startSidecar({
    models: [{ dir: `${FIXTURE_MODELS}tiny-sana`, revision: "fixture-r1" }],
    host: "127.0.0.1",
    port: 0,
    secret: SECRET,
    maxQueueDepth: 8,
    maxBatchSize: 4,
    drainGraceMs: 10_000,
    log: createLogger({ level: "silent" }),
    ...overrides,
  });
}

export type GenerateInit = MessageInitShape<typeof GenerateRequestSchema>;

/** What one call returned: its events and how the RPC itself ended. */
export interface CallResult {
  events: GenerateResponse[];
  code: Code | 0;
  message: string;
  trailers: Record<string, string>;
}

export interface GrpcCallOptions {
  secret?: string | undefined;
  deadlineMs?: number;
  /** Called with each event; may cancel the call. */
  onEvent?: (event: GenerateResponse, call: grpc.ClientReadableStream<GenerateResponse>) => void;
}

export function grpcClient(sidecar: Pick<Sidecar, "port">): grpc.Client {
  return new grpc.Client(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure(), {
    "grpc-node.flow_control_window": 8 * 1024 * 1024,
  });
}

function grpcMetadata(secret: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (secret !== undefined) metadata.set("authorization", `Bearer ${secret}`);
  return metadata;
}

/** Generate over plain gRPC; resolves when the call ends (never rejects). */
export function grpcGenerate(
  client: grpc.Client,
  init: GenerateInit,
  options: GrpcCallOptions = {},
): Promise<CallResult> {
  const request = create(GenerateRequestSchema, init);
  const secret = "secret" in options ? options.secret : SECRET;
  return new Promise((resolve) => {
    const events: GenerateResponse[] = [];
    const call = client.makeServerStreamRequest(
      "/sana.v1.ImageService/Generate",
      (message: GenerateRequest) => Buffer.from(toBinary(GenerateRequestSchema, message)),
      (bytes: Buffer) => fromBinary(GenerateResponseSchema, bytes),
      request,
      grpcMetadata(secret),
      options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs },
    );
    call.on("data", (event: GenerateResponse) => {
      events.push(event);
      options.onEvent?.(event, call);
    });
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => {
      const trailers: Record<string, string> = {};
      for (const [key, value] of Object.entries(status.metadata.getMap())) trailers[key] = String(value);
      resolve({ events, code: status.code as Code | 0, message: status.details, trailers });
    });
  });
}

function authHeader(secret: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${secret}`);
    return next(request);
  };
}

export type ImageClient = Client<typeof ImageService>;

export function connectClient(
  sidecar: Pick<Sidecar, "url">,
  protocol: "connect" | "grpc-web" = "connect",
): ImageClient {
  const options = { baseUrl: sidecar.url, httpVersion: "1.1" as const, interceptors: [authHeader(SECRET)] };
  const transport =
    protocol === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options);
  return createClient(ImageService, transport);
}

/** Generate over Connect / gRPC-Web; resolves when the stream ends (never rejects). */
export async function connectGenerate(
  client: ImageClient,
  init: GenerateInit,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<CallResult> {
  const events: GenerateResponse[] = [];
  try {
    for await (const event of client.generate(init, options)) events.push(event);
    return { events, code: 0, message: "", trailers: {} };
  } catch (error) {
    const connectError = ConnectError.from(error);
    const trailers: Record<string, string> = {};
    connectError.metadata.forEach((value, key) => {
      trailers[key] = value;
    });
    return { events, code: connectError.code, message: connectError.rawMessage, trailers };
  }
}

/** The event kinds of a stream in order, runs of the same kind collapsed: "accepted progress preview ...". */
export function eventOutline(events: readonly GenerateResponse[]): string {
  const kinds: string[] = [];
  for (const event of events) {
    const kind = event.event.case ?? "none";
    if (kinds.at(-1) !== kind) kinds.push(kind);
  }
  return kinds.join(" ");
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes. */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = 20_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function statusEvent(events: readonly GenerateResponse[]) {
  const last = events.at(-1);
  return last?.event.case === "status" ? last.event.value : undefined;
}
