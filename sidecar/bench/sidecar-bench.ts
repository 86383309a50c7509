// `npm run bench:sidecar`: what the sidecar costs on top of the engine, and what batching
// buys, each measured against its baseline in this one process (the machines are noisy).
//
// 1. Overhead: the same 512² request as a direct engine call (generate + PNG encode, what any
//    caller needs) and through a real sidecar on loopback with a grpc-js client (queue, events,
//    chunking, sha256, HTTP/2), alternated, medians compared. Also with previews every 2 steps.
// 2. Batching: N concurrent compatible requests on a sidecar with max batch 1 and with max
//    batch B, alternated; throughput compared.
//
// Options: --model DIR (default: the tiny fixture), --size 512, --steps 20, --reps 7,
// --jobs 8, --batch 4.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { TextToImage } from "../src/engine/text-to-image.js";
import { encodeImage } from "../src/images/encode.js";
import { createLogger } from "../src/ops/log.js";
import { type Sidecar, startSidecar } from "../src/server/sidecar.js";
import { type GenerateInit, grpcClient, grpcGenerate, SECRET } from "../test/support/sidecar-clients.js";

const { values } = parseArgs({
  options: {
    model: {
      type: "string",
      default: fileURLToPath(new URL("../../test/fixtures/golden/models/tiny-sana", import.meta.url)),
    },
    size: { type: "string", default: "512" },
    steps: { type: "string", default: "20" },
    reps: { type: "string", default: "7" },
    jobs: { type: "string", default: "8" },
    batch: { type: "string", default: "4" },
  },
});
const size = Number(values.size);
const steps = Number(values.steps);
const reps = Number(values.reps);
const jobs = Number(values.jobs);
const batch = Number(values.batch);

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** Milliseconds the JS thread was busy during `run` (the engine works on other threads). */
async function jsBusy(run: () => Promise<unknown>): Promise<number> {
  const start = performance.eventLoopUtilization();
  await run();
  return performance.eventLoopUtilization(start).active;
}

function sidecarWith(maxBatchSize: number): Promise<Sidecar> {
  return startSidecar({
    models: [{ dir: values.model, id: "bench" }],
    host: "127.0.0.1",
    port: 0,
    secret: SECRET,
    maxQueueDepth: 64,
    maxBatchSize,
    drainGraceMs: 0,
    log: createLogger({ level: "silent" }),
  });
}

const request = (seed: number, previewInterval = 0): GenerateInit => ({
  model: "bench",
  prompt: `a lighthouse on a cliff at dusk, study ${seed}`,
  width: size,
  height: size,
  steps,
  seed: BigInt(seed),
  previewInterval,
  useResolutionBinning: false,
});

async function overhead(): Promise<void> {
  const engine = await TextToImage.load(values.model);
  const sidecar = await sidecarWith(1);
  const client = grpcClient(sidecar);
  const direct = async (seed: number) => {
    const image = await engine.generate({
      prompt: `a lighthouse on a cliff at dusk, study ${seed}`,
      width: size,
      height: size,
      steps,
      guidanceScale: 4.5,
      seed: BigInt(seed),
    });
    await encodeImage(image, { format: "png" });
  };
  const viaGrpc = async (seed: number, previewInterval: number) => {
    const result = await grpcGenerate(client, request(seed, previewInterval));
    if (result.code !== 0) throw new Error(`sidecar call failed: ${result.code} ${result.message}`);
  };
  // Warm-up: embedding caches, preview fit, allocator, JIT.
  await direct(0);
  await viaGrpc(0, 2);
  const samples = { direct: [] as number[], grpc: [] as number[], previews: [] as number[] };
  const busy = { direct: [] as number[], grpc: [] as number[] };
  for (let rep = 1; rep <= reps; rep++) {
    // Same seed and prompt for the three paths of a rep; the prompt cache hits for all of them.
    samples.direct.push(await timed(() => direct(rep)));
    samples.grpc.push(await timed(() => viaGrpc(rep, 0)));
    samples.previews.push(await timed(() => viaGrpc(rep, 2)));
  }
  for (let rep = 1; rep <= reps; rep++) {
    busy.direct.push(await jsBusy(() => direct(rep)));
    busy.grpc.push(await jsBusy(() => viaGrpc(rep, 0)));
  }
  client.close();
  await sidecar.close();
  const base = median(samples.direct);
  const line = (name: string, ms: number) =>
    `| ${name} | ${ms.toFixed(1)} ms | ${(ms - base).toFixed(1)} ms | ${(((ms - base) / base) * 100).toFixed(1)} % |`;
  console.log(`\n### Sidecar overhead: ${size}², ${steps} steps, CFG 4.5, PNG, median of ${reps}\n`);
  console.log("| path | median | overhead | of generation time |");
  console.log("|---|---|---|---|");
  console.log(`| direct engine call (generate + PNG encode) | ${base.toFixed(1)} ms | — | — |`);
  console.log(line("gRPC (grpc-js, loopback HTTP/2), no previews", median(samples.grpc)));
  console.log(line(`gRPC with a preview every 2 steps (${steps / 2} JPEGs)`, median(samples.previews)));
  const extra = median(busy.grpc) - median(busy.direct);
  console.log(
    `\nJS-thread time per request: direct ${median(busy.direct).toFixed(1)} ms, through gRPC ${median(busy.grpc).toFixed(1)} ms (client and server both in this process): ${extra.toFixed(1)} ms more.`,
  );
}

async function throughput(maxBatchSize: number): Promise<number> {
  const sidecar = await sidecarWith(maxBatchSize);
  const clients = Array.from({ length: jobs }, () => grpcClient(sidecar));
  const run = (offset: number) =>
    Promise.all(
      clients.map(async (client, i) => {
        const result = await grpcGenerate(client, request(offset + i));
        if (result.code !== 0) throw new Error(`sidecar call failed: ${result.code} ${result.message}`);
      }),
    );
  await run(1000);
  const ms = await timed(() => run(2000));
  for (const client of clients) client.close();
  await sidecar.close();
  return (jobs / ms) * 1000;
}

async function batching(): Promise<void> {
  const one: number[] = [];
  const many: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    one.push(await throughput(1));
    many.push(await throughput(batch));
  }
  const single = median(one);
  const batched = median(many);
  console.log(`\n### Batching: ${jobs} concurrent ${size}² requests, ${steps} steps, median of 3\n`);
  console.log("| max batch | images/s | vs one at a time |");
  console.log("|---|---|---|");
  console.log(`| 1 | ${single.toFixed(2)} | 1.00x |`);
  console.log(`| ${batch} | ${batched.toFixed(2)} | ${(batched / single).toFixed(2)}x |`);
}

console.log(`model: ${values.model}`);
await overhead();
await batching();
