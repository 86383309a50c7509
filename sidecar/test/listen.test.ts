import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as tls from "node:tls";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "@sana-edge/proto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { listen, type NodeHandlerFn, type RunningServer } from "../src/server/listen.js";

// One port for gRPC (HTTP/2), gRPC-Web and Connect (HTTP/1.1 and HTTP/2), with and without TLS.

const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const versionHandler: NodeHandlerFn = (req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ httpVersion: req.httpVersion }));
};

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(true)));
});

async function start(handler: NodeHandlerFn, tls?: { cert: Buffer; key: Buffer }): Promise<RunningServer> {
  const server = await listen(handler, { host: "127.0.0.1", port: 0, ...(tls ? { tls } : {}) });
  servers.push(server);
  return server;
}

function h2Get(
  session: http2.ClientHttp2Session,
  path = "/",
): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let status: number | undefined;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => {
      status = headers[":status"];
    });
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve({ status, body }));
    stream.on("error", reject);
    stream.end();
  });
}

function connectH2(url: string, options: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(url, options);
  session.on("error", () => {});
  return session;
}

async function h2Once(url: string, options: http2.SecureClientSessionOptions = {}) {
  const session = connectH2(url, options);
  try {
    return await h2Get(session);
  } finally {
    session.close();
  }
}

/** Relays client bytes to the server, but splits the client's first chunk after `split` bytes with a pause between. */
async function splittingRelay(targetPort: number, split: number): Promise<{ port: number; close(): void }> {
  const relay = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    upstream.pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    let first = true;
    client.on("data", (chunk: Buffer) => {
      if (!first) return void upstream.write(chunk);
      first = false;
      client.pause();
      upstream.write(chunk.subarray(0, split));
      setTimeout(() => {
        upstream.write(chunk.subarray(split));
        client.resume();
      }, 100);
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    close: () => {
      relay.close();
    },
  };
}

/** Sends bytes on a raw socket and collects whatever comes back until the server closes it. */
function rawExchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    let reply = "";
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(reply));
  });
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A handler that answers only once released, to hold a request in flight across close(). */
function heldHandler(): { handler: NodeHandlerFn; arrived: Promise<void>; release(): void } {
  const arrived = deferred();
  const released = deferred();
  const handler: NodeHandlerFn = (req, res) => {
    arrived.resolve();
    res.setHeader("content-type", "text/plain");
    void released.promise.then(() => res.end(`done ${req.httpVersion}`));
  };
  return { handler, arrived: arrived.promise, release: released.resolve };
}

function settledWithin<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);
}

describe("listen without TLS", () => {
  it("serves HTTP/2 with prior knowledge (h2c) and HTTP/1.1 from fetch on the same port", async () => {
    const server = await start(versionHandler);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);

    const h2 = await h2Once(server.url);
    expect(h2.status).toBe(200);
    expect(JSON.parse(h2.body)).toEqual({ httpVersion: "2.0" });

    const h1 = await fetch(`${server.url}/any`);
    expect(h1.status).toBe(200);
    expect(await h1.json()).toEqual({ httpVersion: "1.1" });
  });

  it("still recognises HTTP/2 when the preface arrives in pieces", async () => {
    const server = await start(versionHandler);
    const relay = await splittingRelay(server.port, 3);
    try {
      const h2 = await h2Once(`http://127.0.0.1:${relay.port}`);
      expect(JSON.parse(h2.body)).toEqual({ httpVersion: "2.0" });
    } finally {
      relay.close();
    }
  });

  it("treats bytes that stop matching the preface part way as HTTP/1.1", async () => {
    const server = await start(versionHandler);
    const reply = await rawExchange(
      server.port,
      Buffer.from("PRINT / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "latin1"),
    );
    // PRINT is no method Node's parser knows, so HTTP/1.1 rejects it rather than HTTP/2 waiting for more.
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
  });

  it("answers garbage with an HTTP/1.1 400 or a closed socket and keeps serving", async () => {
    const server = await start(versionHandler);
    const reply = await rawExchange(server.port, Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]));
    expect(reply === "" || reply.startsWith("HTTP/1.1 400")).toBe(true);

    // A client that resets halfway through the preface, before the connection was handed to either server.
    const reset = net.connect(server.port, "127.0.0.1", () => {
      reset.write(H2_PREFACE.slice(0, 5));
      setTimeout(() => reset.resetAndDestroy(), 20);
    });
    reset.on("error", () => {});
    await new Promise((resolve) => reset.on("close", resolve));

    const h1 = await fetch(server.url);
    expect(await h1.json()).toEqual({ httpVersion: "1.1" });
    expect(JSON.parse((await h2Once(server.url)).body)).toEqual({ httpVersion: "2.0" });
  });

  it("closes promptly while idle HTTP/2 sessions, keep-alive HTTP/1.1 sockets and silent sockets are open", async () => {
    const server = await start(versionHandler);
    const session = connectH2(server.url);
    await h2Get(session);
    const sessionClosed = new Promise((resolve) => session.on("close", resolve));

    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(server.url, { agent }, (res) => res.resume().on("end", resolve)).on("error", reject);
    });
    const silent = net.connect(server.port, "127.0.0.1");
    silent.on("error", () => {});
    await new Promise((resolve) => silent.on("connect", resolve));

    expect(await settledWithin(server.close(), 2_000)).toBe(true);
    expect(await settledWithin(sessionClosed, 2_000)).toBe(true);
    agent.destroy();
    silent.destroy();
  });

  it("lets in-flight HTTP/2 and HTTP/1.1 requests finish on a graceful close, and refuses new connections", async () => {
    const held = heldHandler();
    const server = await start(held.handler);
    const session = connectH2(server.url);
    const h2 = h2Get(session);
    const h1 = fetch(server.url).then((r) => r.text());
    await held.arrived;
    await new Promise((resolve) => setTimeout(resolve, 50));

    const closed = server.close();
    expect(await settledWithin(closed, 200)).toBe(false);
    await expect(fetch(server.url)).rejects.toThrow();

    held.release();
    expect((await h2).body).toBe("done 2.0");
    expect(await h1).toBe("done 1.1");
    expect(await settledWithin(closed, 2_000)).toBe(true);
  });

  it("destroys in-flight requests on a forced close", async () => {
    const held = heldHandler();
    const server = await start(held.handler);
    const session = connectH2(server.url);
    // Node's client ends a stream cut off by a torn-down session without an error, just without a response.
    const h2Status = h2Get(session).then(
      (r) => r.status,
      () => undefined,
    );
    await held.arrived;
    const h1 = fetch(server.url).then(
      () => "answered",
      () => "failed",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(await settledWithin(server.close(true), 2_000)).toBe(true);
    expect(await h2Status).toBeUndefined();
    expect(await h1).toBe("failed");
    held.release();
  });
});

const openssl = spawnSync("openssl", ["version"]).status === 0;
if (!openssl) console.warn("listen.test.ts: the openssl binary is missing, so the TLS tests are skipped");

describe.skipIf(!openssl)("listen with TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "sana-listen-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function selfSigned(): { cert: Buffer; key: Buffer } {
    const [key, cert] = [join(dir, "k"), join(dir, "c")];
    const run = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        key,
        "-out",
        cert,
      ]
        // The client connects to 127.0.0.1, so the certificate must name that address for verification to pass.
        .concat(["-days", "1", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
      { encoding: "utf8" },
    );
    expect(run.status, run.stderr).toBe(0);
    return { cert: readFileSync(cert), key: readFileSync(key) };
  }

  it("negotiates h2 and http/1.1 by ALPN on the same port, and closes with both connections still open", async () => {
    const files = selfSigned();
    const server = await start(versionHandler, files);
    expect(server.url).toBe(`https://127.0.0.1:${server.port}`);

    const session = connectH2(server.url, { ca: files.cert });
    const h2 = await h2Get(session);
    expect(session.alpnProtocol).toBe("h2");
    expect(JSON.parse(h2.body)).toEqual({ httpVersion: "2.0" });

    const agent = new https.Agent({ keepAlive: true, ca: files.cert, ALPNProtocols: ["http/1.1"] });
    const h1 = await new Promise<{ alpn: string | false | null; body: string }>((resolve, reject) => {
      const req = https.get(server.url, { agent }, (res) => {
        // Read now: a keep-alive agent takes the socket back once the response ends.
        const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ alpn, body }));
      });
      req.on("error", reject);
    });
    expect(h1.alpn).toBe("http/1.1");
    expect(JSON.parse(h1.body)).toEqual({ httpVersion: "1.1" });

    expect(await settledWithin(server.close(), 2_000)).toBe(true);
    session.close();
    agent.destroy();
  });
});

describe("listen with a connect-node handler", () => {
  const healthHandler = connectNodeAdapter({
    routes: (router) =>
      router.service(Health, {
        check: (req) => {
          if (req.service === "" || req.service === "sana.v1.ImageService") {
            return { status: HealthCheckResponse_ServingStatus.SERVING };
          }
          throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
        },
        async *watch() {
          yield { status: HealthCheckResponse_ServingStatus.NOT_SERVING };
          yield { status: HealthCheckResponse_ServingStatus.SERVING };
        },
      }),
  });

  const serialize =
    <D extends DescMessage>(schema: D) =>
    (message: MessageShape<D>) =>
      Buffer.from(toBinary(schema, message));
  const deserialize =
    <D extends DescMessage>(schema: D) =>
    (bytes: Buffer) =>
      fromBinary(schema, bytes);

  it("answers a grpc-js client and Connect and gRPC-Web clients over HTTP/1.1 on one plaintext port", async () => {
    const server = await start(healthHandler);
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const check = (service: string) =>
        new Promise<MessageShape<typeof HealthCheckResponseSchema>>((resolve, reject) => {
          client.makeUnaryRequest(
            "/grpc.health.v1.Health/Check",
            serialize(HealthCheckRequestSchema),
            deserialize(HealthCheckResponseSchema),
            create(HealthCheckRequestSchema, { service }),
            (error, response) => (error || !response ? reject(error) : resolve(response)),
          );
        });
      expect((await check("")).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      await expect(check("nope")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

      const statuses: HealthCheckResponse_ServingStatus[] = [];
      const call = client.makeServerStreamRequest(
        "/grpc.health.v1.Health/Watch",
        serialize(HealthCheckRequestSchema),
        deserialize(HealthCheckResponseSchema),
        create(HealthCheckRequestSchema, {}),
      );
      for await (const message of call as AsyncIterable<MessageShape<typeof HealthCheckResponseSchema>>) {
        statuses.push(message.status);
      }
      expect(statuses).toEqual([
        HealthCheckResponse_ServingStatus.NOT_SERVING,
        HealthCheckResponse_ServingStatus.SERVING,
      ]);
    } finally {
      client.close();
    }

    for (const transport of [
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
      createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    ]) {
      const health = createClient(Health, transport);
      expect((await health.check({ service: "sana.v1.ImageService" })).status).toBe(
        HealthCheckResponse_ServingStatus.SERVING,
      );
      const watched: HealthCheckResponse_ServingStatus[] = [];
      for await (const message of health.watch({})) watched.push(message.status);
      expect(watched).toEqual([
        HealthCheckResponse_ServingStatus.NOT_SERVING,
        HealthCheckResponse_ServingStatus.SERVING,
      ]);
    }
  });
});
