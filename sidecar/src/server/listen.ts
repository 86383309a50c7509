import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type * as tls from "node:tls";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

// connect-node 2.1.2 does not re-export NodeHandlerFn from its only entry point, so take it from the adapter.
export type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;

/** PEM contents, not paths. */
export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer;
  requestClientCert?: boolean;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
}

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  /** Stops accepting, lets open streams finish, resolves when every connection is gone; force=true destroys them. */
  close(force?: boolean): Promise<void>;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

// A connection that has not yet shown which protocol it speaks holds no request, so it may not idle forever.
const SNIFF_TIMEOUT_MS = 10_000;

/**
 * Serves gRPC, gRPC-Web and Connect on one port. With TLS, ALPN picks h2 or http/1.1. Without TLS,
 * `http2.createServer({allowHTTP1})` never falls back to HTTP/1.1, so the first bytes of each connection
 * decide: the HTTP/2 client preface (h2c prior knowledge, as grpc-js sends it) goes to HTTP/2, anything
 * else to HTTP/1.1 (what fetch sends).
 */
export async function listen(handler: NodeHandlerFn, options: ListenOptions): Promise<RunningServer> {
  const tracker = new ConnectionTracker();
  const front = options.tls ? secureFront(handler, options.tls, tracker) : plainFront(handler, tracker);
  front.on("connection", (socket: net.Socket) => tracker.addRaw(socket));
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const port = (front.address() as net.AddressInfo).port;
  const scheme = options.tls ? "https" : "http";
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  let closed: Promise<void> | undefined;
  return {
    port,
    url: `${scheme}://${host}:${port}`,
    close(force = false) {
      closed ??= new Promise<void>((resolve) => front.close(() => resolve()));
      tracker.shutdown(force);
      return closed;
    },
  };
}

function secureFront(handler: NodeHandlerFn, files: TlsFiles, tracker: ConnectionTracker): net.Server {
  const server = http2.createSecureServer({
    cert: files.cert,
    key: files.key,
    ...(files.ca === undefined ? {} : { ca: files.ca }),
    requestCert: files.requestClientCert ?? false,
    allowHTTP1: true,
    ALPNProtocols: ["h2", "http/1.1"],
  });
  // A connection still in its TLS handshake is left to the handshake timeout; it is closed as soon as it completes.
  server.on("secureConnection", (socket: tls.TLSSocket) =>
    tracker.dispatched(socket, socket.alpnProtocol !== "h2"),
  );
  tracker.watchHttp2(server);
  tracker.watchRequests(server, handler);
  return server;
}

function plainFront(handler: NodeHandlerFn, tracker: ConnectionTracker): net.Server {
  const h2 = http2.createServer();
  const h1 = http.createServer();
  tracker.watchHttp2(h2);
  tracker.watchRequests(h2, handler);
  tracker.watchRequests(h1, handler);
  // Streams end with small writes (trailers) after large ones: without noDelay, Nagle holds them back.
  return net.createServer({ noDelay: true }, (socket) => {
    tracker.sniffing(socket);
    sniff(socket, (isHttp2) => {
      tracker.dispatched(socket, !isHttp2);
      (isHttp2 ? h2 : h1).emit("connection", socket);
      // Http2Session drains the put-back bytes itself; the HTTP/1.1 server only sees them once the socket flows.
      if (!isHttp2) socket.resume();
    });
  });
}

/** Reads until the bytes so far either are the whole HTTP/2 preface or stop matching it, then hands the socket on with those bytes put back. */
function sniff(socket: net.Socket, decided: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const matches = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (matches && n < H2_PREFACE.length) return;
    socket.off("data", onData).off("error", onError).off("timeout", onTimeout).setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    decided(matches);
  };
  // Before dispatch nobody else listens, and an unhandled socket error would take the process down.
  const onError = () => socket.destroy();
  const onTimeout = () => socket.destroy();
  socket.on("data", onData).on("error", onError).on("timeout", onTimeout).setTimeout(SNIFF_TIMEOUT_MS);
}

type Http1State = { inFlight: number };

/**
 * Knows every connection so close() can be graceful: HTTP/2 sessions get GOAWAY and finish their streams,
 * idle HTTP/1.1 sockets end at once and busy ones after their response, plaintext connections still being
 * sniffed are dropped. force destroys everything.
 */
class ConnectionTracker {
  private readonly raw = new Set<net.Socket>();
  private readonly pending = new Set<net.Socket>();
  private readonly sessions = new Set<http2.Http2Session>();
  private readonly http1 = new Map<net.Socket, Http1State>();
  private closing = false;

  addRaw(socket: net.Socket): void {
    this.raw.add(socket);
    socket.once("close", () => this.raw.delete(socket));
  }

  sniffing(socket: net.Socket): void {
    this.pending.add(socket);
    socket.once("close", () => this.pending.delete(socket));
  }

  /** socket is what HTTP reads: the TLS socket under TLS. */
  dispatched(socket: net.Socket, isHttp1: boolean): void {
    this.pending.delete(socket);
    if (!isHttp1) return;
    this.http1.set(socket, { inFlight: 0 });
    socket.once("close", () => this.http1.delete(socket));
    if (this.closing) socket.end();
  }

  watchHttp2(server: http2.Http2Server | http2.Http2SecureServer): void {
    server.on("session", (session: http2.Http2Session) => {
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
      if (this.closing) session.close();
    });
  }

  watchRequests(
    server: http.Server | http2.Http2Server | http2.Http2SecureServer,
    handler: NodeHandlerFn,
  ): void {
    // Registered before the handler so a request that arrives while closing is answered with Connection: close.
    server.on("request", (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse) => {
      if (req.httpVersionMajor === 1) this.trackHttp1Request(req.socket, res);
    });
    server.on("request", handler);
  }

  private trackHttp1Request(socket: net.Socket, res: http.ServerResponse): void {
    const state = this.http1.get(socket);
    if (!state) return;
    state.inFlight++;
    if (this.closing && !res.headersSent) res.setHeader("Connection", "close");
    res.once("close", () => {
      state.inFlight--;
      if (this.closing && state.inFlight === 0) socket.end();
    });
  }

  shutdown(force: boolean): void {
    this.closing = true;
    if (force) {
      for (const session of this.sessions) session.destroy();
      for (const socket of this.raw) socket.destroy();
      return;
    }
    for (const socket of this.pending) socket.destroy();
    for (const session of this.sessions) session.close();
    for (const [socket, state] of this.http1) if (state.inFlight === 0) socket.end();
  }
}
