import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService } from "@sana-edge/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Sidecar } from "../src/server/sidecar.js";
import { SECRET, startTestSidecar } from "./support/sidecar-clients.js";

// Rotating the edge's secret without downtime: while the new secret rolls out to the sidecars,
// they accept the previous one too, so an edge still sending it keeps working.

const PREVIOUS = "previous-secret-0123456789abcdef";
let sidecar: Sidecar;

beforeAll(async () => {
  sidecar = await startTestSidecar({ previousSecret: PREVIOUS });
});

afterAll(async () => {
  await sidecar.close();
});

function clientWith(secret: string) {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${secret}`);
    return next(request);
  };
  return createClient(
    ImageService,
    createConnectTransport({ baseUrl: sidecar.url, httpVersion: "1.1", interceptors: [bearer] }),
  );
}

it("accepts the current and the previous secret during a rotation, and nothing else", async () => {
  expect((await clientWith(SECRET).listModels({})).models.length).toBe(1);
  expect((await clientWith(PREVIOUS).listModels({})).models.length).toBe(1);
  const refused = await clientWith("some-other-secret-0123456789")
    .listModels({})
    .catch((e: unknown) => e);
  expect(ConnectError.from(refused).code).toBe(Code.Unauthenticated);
});
