// `npm run bench:edge`: latency and throughput of cache hits through the local worker
// (`wrangler dev` on loopback), with autocannon. One seeded request is generated once by a real
// sidecar on the tiny fixture model; every request after it is the same request, answered from
// the cache without touching a sidecar. Options: --seconds 10 --connections 10.
import { parseArgs } from "node:util";
import { createLogger, startSidecar } from "@sana-edge/sidecar";
import autocannon from "autocannon";
import { startLocalEdge } from "../test/support/local-edge.js";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "10" }, connections: { type: "string", default: "10" } },
});
const SECRET = "bench-secret-0123456789abcdef";
const MODEL_DIR = new URL("../../test/fixtures/golden/models/tiny-sana", import.meta.url).pathname;

const sidecar = await startSidecar({
  models: [{ dir: MODEL_DIR, revision: "bench" }],
  host: "127.0.0.1",
  port: 0,
  secret: SECRET,
  maxQueueDepth: 16,
  maxBatchSize: 4,
  drainGraceMs: 0,
  log: createLogger({ level: "silent" }),
});
const edge = await startLocalEdge({
  sidecars: [{ id: "bench", url: sidecar.url }],
  secret: SECRET,
  rpm: 10_000_000,
  concurrency: 10_000,
});
try {
  const key = await edge.createKey("bench");
  const body = JSON.stringify({
    model: "tiny-sana",
    prompt: "a lighthouse",
    size: "256x256",
    seed: 1,
    steps: 2,
  });
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const url = `${edge.url}/v1/images/generations`;
  const warm = await fetch(url, { method: "POST", headers, body });
  const size = (await warm.arrayBuffer()).byteLength;
  const check = await fetch(url, { method: "POST", headers, body });
  await check.arrayBuffer();
  if (check.headers.get("x-sana-cache") !== "hit")
    throw new Error("the repeated request was not a cache hit");

  const rows: string[] = [];
  for (const [label, format] of [
    ["b64_json (the 256² PNG inline)", "b64_json"],
    ["url (a link to GET /v1/images/{id})", "url"],
  ] as const) {
    const requestBody = JSON.stringify({ ...JSON.parse(body), response_format: format });
    const result = await autocannon({
      url,
      method: "POST",
      headers,
      body: requestBody,
      connections: Number(values.connections),
      duration: Number(values.seconds),
    });
    rows.push(
      `| ${label} | ${result.requests.total} (${result.non2xx} non-2xx, ${result.errors} errors) | ${result.requests.average.toFixed(1)} | ${result.latency.p50} ms | ${result.latency.p99} ms |`,
    );
  }
  console.log(
    `\n### Edge cache hits: wrangler dev on loopback, ${values.connections} connections, ${values.seconds} s each\n`,
  );
  console.log(`The b64_json answer is ${size} bytes of JSON.\n`);
  console.log("| response_format | requests | requests/s | latency p50 | latency p99 |");
  console.log("|---|---|---|---|---|");
  for (const row of rows) console.log(row);
} finally {
  await edge.stop();
  await sidecar.close();
}
