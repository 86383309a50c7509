// Bit-exact GEMMs whatever the batch size, so a batched job's bytes can be compared with a
// solo run's (OpenBLAS rounds by row count: ≤ 1 level on a handful of pixels). Vitest's forks
// pool gives this file its own process, read before the engine loads.
process.env.SANA_GEMM = "portable";

import { assembleImage } from "@sana-edge/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sidecar } from "../src/server/sidecar.js";
import { batchSizes } from "./support/engine-probe.js";
import {
  connectClient,
  connectGenerate,
  FIXTURE_MODELS,
  type GenerateInit,
  startTestSidecar,
  waitFor,
} from "./support/sidecar-clients.js";

let sidecar: Sidecar;

beforeAll(async () => {
  sidecar = await startTestSidecar({
    models: [{ dir: `${FIXTURE_MODELS}tiny-sana-4k`, id: "4k" }],
    maxQueueDepth: 8,
    maxBatchSize: 4,
  });
});

afterAll(async () => {
  await sidecar.close();
});

const small = (seed: bigint, prompt: string): GenerateInit => ({
  model: "4k",
  prompt,
  negativePrompt: `not ${prompt}`,
  width: 128,
  height: 96,
  steps: 3,
  seed,
  useResolutionBinning: false,
});

async function digestOf(init: GenerateInit, signal?: AbortSignal): Promise<string> {
  const result = await connectGenerate(connectClient(sidecar), init, signal === undefined ? {} : { signal });
  if (result.code !== 0) throw new Error(`generation failed: ${result.code} ${result.message}`);
  return Buffer.from((await assembleImage(result.events)).header.sha256).toString("hex");
}

describe("batching", () => {
  it("runs compatible waiting jobs as one batch with the bytes each gets alone", async () => {
    const jobs = [small(11n, "a red fox"), small(12n, "a blue whale"), small(13n, "a green frog")];
    const odd = { ...small(14n, "a yellow bird"), steps: 4 };
    const solo = [];
    for (const job of [...jobs, odd]) solo.push(await digestOf(job));

    const before = await batchSizes(sidecar);
    const blocker = new AbortController();
    const running = connectGenerate(
      connectClient(sidecar),
      { ...small(1n, "blocker"), width: 4096, height: 4096, steps: 100 },
      { signal: blocker.signal },
    );
    await waitFor(() => sidecar.service.getLoad().activeJobs === 1, 20_000, "the blocker to run");
    const batched = [...jobs, odd].map((job) => digestOf(job));
    await waitFor(() => sidecar.service.getLoad().queueDepth === 4, 20_000, "four jobs to queue");
    blocker.abort();
    await running;

    expect(await Promise.all(batched)).toEqual(solo);
    const after = await batchSizes(sidecar);
    // The blocker's batch of 1, the three compatible jobs together, then the 4-step one.
    expect([after.count - before.count, after.sum - before.sum]).toEqual([3, 5]);
  });

  it("tells waiting jobs where they are in the queue", async () => {
    const blocker = new AbortController();
    const running = connectGenerate(
      connectClient(sidecar),
      { ...small(1n, "blocker"), width: 4096, height: 4096, steps: 100 },
      { signal: blocker.signal },
    );
    await waitFor(() => sidecar.service.getLoad().activeJobs === 1, 20_000, "the blocker to run");
    const waiting = [small(21n, "one"), { ...small(22n, "two"), steps: 2 }].map((job) =>
      connectGenerate(connectClient(sidecar), job),
    );
    await waitFor(() => sidecar.service.getLoad().queueDepth === 2, 20_000, "two jobs to queue");
    blocker.abort();
    await running;
    const [first, second] = await Promise.all(waiting);
    const accepted = (r: typeof first) =>
      r?.events[0]?.event.case === "accepted" ? r.events[0].event.value.queuePosition : -1;
    expect([accepted(first), accepted(second)]).toEqual([0, 1]);
    // The second moves to the head when the first starts.
    const moves = second?.events.flatMap((e) => (e.event.case === "queued" ? [e.event.value.position] : []));
    expect(moves).toEqual([0]);
  });
});
