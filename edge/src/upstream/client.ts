import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ImageService } from "@sana-edge/proto";

// The edge's client of one sidecar: Connect over fetch (Workers cannot send HTTP/2 gRPC with
// trailers), binary protobuf, the shared secret on every call.

export type SidecarClient = Client<typeof ImageService>;

/** connect-web sets RequestInit fields for browsers (mode, credentials, redirect) that workerd rejects. */
const workerFetch: typeof fetch = (input, init) => {
  if (init === undefined) return fetch(input);
  const kept: RequestInit = {};
  if (init.method !== undefined) kept.method = init.method;
  if (init.headers !== undefined) kept.headers = init.headers;
  if (init.body !== undefined) kept.body = init.body;
  if (init.signal !== undefined) kept.signal = init.signal;
  return fetch(input, kept);
};

function bearer(secret: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${secret}`);
    return next(request);
  };
}

export function sidecarClient(baseUrl: string, secret: string | undefined): SidecarClient {
  const transport = createConnectTransport({
    baseUrl,
    useBinaryFormat: true,
    fetch: workerFetch,
    interceptors: secret === undefined ? [] : [bearer(secret)],
  });
  return createClient(ImageService, transport);
}
