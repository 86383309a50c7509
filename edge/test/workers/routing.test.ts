import { create } from "@bufbuild/protobuf";
import {
  type GetLoadResponse,
  GetLoadResponseSchema,
  type ModelInfo,
  ModelInfoSchema,
} from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import {
  explainNoRoute,
  type HostStatus,
  type PoolOptions,
  type RouteCandidate,
  type RouteRequest,
  type SidecarConfig,
  SidecarPool,
} from "../../src/routing/index.js";

// Fakes shared by the routing tests: load reports, a controllable GetLoad and a clock.

function model(id: string, maxWidth = 1024, maxHeight = maxWidth): ModelInfo {
  return create(ModelInfoSchema, { id, revision: `${id}-rev`, capabilities: { maxWidth, maxHeight } });
}

interface LoadInit {
  readonly queue?: number;
  readonly active?: number;
  readonly capacity?: number;
  readonly draining?: boolean;
  readonly models?: readonly ModelInfo[];
}

function load(init: LoadInit = {}): GetLoadResponse {
  return create(GetLoadResponseSchema, {
    instanceId: "test",
    queueDepth: init.queue ?? 0,
    activeJobs: init.active ?? 0,
    capacity: init.capacity ?? 1,
    maxQueueDepth: 16,
    draining: init.draining ?? false,
    models: [...(init.models ?? [model("tiny-sana")])],
  });
}

function host(id: string, models?: readonly string[]): SidecarConfig {
  const url = `http://${id}.test:50051`;
  return models === undefined ? { id, url } : { id, url, models };
}

/** GetLoad answers per host id: a report, an error to throw, or "hang" (never settles). */
type Answer = GetLoadResponse | Error | "hang";

class FakeSidecars {
  readonly answers = new Map<string, Answer>();
  /** Host ids in the order GetLoad was called. */
  readonly calls: string[] = [];
  /** Pending GetLoads held by hold(), resolved by releaseHeld(). */
  private held: (() => void)[] = [];
  private holding = false;

  set(id: string, answer: Answer): this {
    this.answers.set(id, answer);
    return this;
  }

  callsTo(id: string): number {
    return this.calls.filter((c) => c === id).length;
  }

  /** Makes GetLoads wait until releaseHeld(). */
  hold(): void {
    this.holding = true;
  }

  releaseHeld(): void {
    this.holding = false;
    for (const release of this.held.splice(0)) release();
  }

  readonly fetchLoad = async (config: SidecarConfig): Promise<GetLoadResponse> => {
    this.calls.push(config.id);
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    const answer = this.answers.get(config.id) ?? new Error(`no answer for ${config.id}`);
    if (answer === "hang") return new Promise<GetLoadResponse>(() => undefined);
    if (answer instanceof Error) throw answer;
    return answer;
  };
}

class FakeClock {
  constructor(public t = 1_000_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A deterministic `random`: the given values in turn, then 0. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++] ?? 0;
}

interface Setup {
  readonly sidecars: FakeSidecars;
  readonly clock: FakeClock;
  readonly pool: SidecarPool;
}

function setup(
  configs: readonly SidecarConfig[],
  random: () => number = sequence(),
  options: PoolOptions = {},
): Setup {
  const sidecars = new FakeSidecars();
  const clock = new FakeClock();
  const pool = new SidecarPool(configs, { fetchLoad: sidecars.fetchLoad, now: clock.now, random }, options);
  return { sidecars, clock, pool };
}

const want = (init: Partial<RouteRequest> = {}): RouteRequest => ({
  model: "tiny-sana",
  width: 512,
  height: 512,
  promptKey: "",
  ...init,
});

const ids = (candidates: readonly RouteCandidate[]) => candidates.map((c) => c.host.id);

describe("SidecarPool.candidates", () => {
  it("prefers the less loaded of the two random choices", async () => {
    const { sidecars, pool, clock } = setup([host("a"), host("b")], sequence(0, 0, 0.99, 0));
    sidecars.set("a", load({ queue: 3, active: 1 })).set("b", load({ active: 1 }));
    const first = await pool.candidates(want());
    expect(first.map((c) => [c.host.id, c.via])).toEqual([
      ["b", "p2c"],
      ["a", "failover"],
    ]);
    // Drawn the other way round, the choice is the same.
    clock.advance(10);
    expect(ids(await pool.candidates(want()))).toEqual(["b", "a"]);
  });

  it("compares load per slot of capacity", async () => {
    const { sidecars, pool } = setup([host("small"), host("big")]);
    sidecars
      .set("small", load({ queue: 1, active: 1, capacity: 1 }))
      .set("big", load({ active: 4, capacity: 8 }));
    expect(ids(await pool.candidates(want()))).toEqual(["big", "small"]);
  });

  it("orders the hosts after the pick by ascending load, for failover", async () => {
    const configs = [host("a"), host("b"), host("c"), host("d")];
    // Draws b (index 1) and d (index 3 of 4, i.e. index 2 of the 3 others plus one).
    const { sidecars, pool } = setup(configs, sequence(0.25, 0.99));
    sidecars
      .set("a", load({ queue: 6 }))
      .set("b", load({ queue: 2 }))
      .set("c", load({ queue: 0 }))
      .set("d", load({ queue: 4 }));
    const candidates = await pool.candidates(want());
    // b wins its draw against d although c is idle: two choices, not a global minimum.
    expect(ids(candidates)).toEqual(["b", "c", "d", "a"]);
    expect(candidates.map((c) => c.via)).toEqual(["p2c", "failover", "failover", "failover"]);
  });

  it("keeps only hosts that serve the requested model, carrying that host's ModelInfo", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars
      .set("a", load({ models: [model("tiny-sana")] }))
      .set("b", load({ models: [model("sana-1.6b", 4096), model("tiny-sana")] }));
    const big = await pool.candidates(want({ model: "sana-1.6b" }));
    expect(ids(big)).toEqual(["b"]);
    expect(big[0]?.model.id).toBe("sana-1.6b");
    expect(big[0]?.model.revision).toBe("sana-1.6b-rev");
    expect(await pool.candidates(want({ model: "nope" }))).toEqual([]);
  });

  it("routes a request without a model to each host's first model", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars
      .set("a", load({ models: [model("tiny-sana")] }))
      .set("b", load({ queue: 1, models: [model("sana-1.6b"), model("tiny-sana")] }));
    const candidates = await pool.candidates(want({ model: undefined }));
    expect(candidates.map((c) => [c.host.id, c.model.id])).toEqual([
      ["a", "tiny-sana"],
      ["b", "sana-1.6b"],
    ]);
  });

  it("keeps only hosts whose model accepts the width and height", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars
      .set("a", load({ models: [model("tiny-sana", 512)] }))
      .set("b", load({ models: [model("tiny-sana", 1024, 768)] }));
    expect(ids(await pool.candidates(want({ width: 512, height: 512 })))).toEqual(["a", "b"]);
    expect(ids(await pool.candidates(want({ width: 1024, height: 768 })))).toEqual(["b"]);
    expect(ids(await pool.candidates(want({ width: 768, height: 1024 })))).toEqual([]);
  });

  it("treats a size limit of 0 as not reported, leaving the check to the sidecar", async () => {
    const { sidecars, pool } = setup([host("a")]);
    sidecars.set("a", load({ models: [model("tiny-sana", 0)] }));
    expect(ids(await pool.candidates(want({ width: 4096, height: 4096 })))).toEqual(["a"]);
  });

  it("honours a host's configured model allow-list", async () => {
    const { sidecars, pool } = setup([host("a", ["tiny-sana"])]);
    sidecars.set("a", load({ models: [model("sana-1.6b"), model("tiny-sana")] }));
    expect(await pool.candidates(want({ model: "sana-1.6b" }))).toEqual([]);
    const defaults = await pool.candidates(want({ model: undefined }));
    expect(defaults.map((c) => c.model.id)).toEqual(["tiny-sana"]);
  });

  it("skips draining hosts", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars.set("a", load({ draining: true })).set("b", load({ queue: 9 }));
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
  });

  it("skips a host whose latest GetLoad failed", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars.set("a", new Error("connection refused")).set("b", load());
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
  });

  it("skips a host whose GetLoad times out, counting it as a failure", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")], sequence(), { loadTimeoutMs: 20 });
    sidecars.set("a", "hang").set("b", load());
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
    expect(pool.status()[0]).toMatchObject({ healthy: false, breaker: "closed" });
    await pool.candidates(want());
    await pool.candidates(want());
    expect(pool.status()[0]?.breaker).toBe("open");
  });
});

describe("prompt affinity", () => {
  it("sends a prompt back to the host that last served it", async () => {
    // The draws always favour b (index 1 first); only affinity can put a first.
    const { sidecars, pool } = setup([host("a"), host("b")], () => 0.99);
    sidecars.set("a", load({ active: 1 })).set("b", load());
    expect(ids(await pool.candidates(want({ promptKey: "cat" })))).toEqual(["b", "a"]);
    pool.reportSuccess("a", "cat");
    const candidates = await pool.candidates(want({ promptKey: "cat" }));
    expect(candidates.map((c) => [c.host.id, c.via])).toEqual([
      ["a", "affinity"],
      ["b", "failover"],
    ]);
    // Other prompts are routed by load.
    expect(ids(await pool.candidates(want({ promptKey: "dog" })))).toEqual(["b", "a"]);
  });

  it("gives up affinity when its host has more than one job more than the pick", async () => {
    const { sidecars, pool, clock } = setup([host("a"), host("b")], () => 0.99);
    sidecars.set("a", load({ queue: 1, active: 1 })).set("b", load());
    pool.reportSuccess("a", "cat");
    expect(ids(await pool.candidates(want({ promptKey: "cat" })))).toEqual(["b", "a"]);
    // Once a catches up, the prompt goes back there.
    sidecars.set("a", load({ active: 1 }));
    clock.advance(2_000);
    expect(ids(await pool.candidates(want({ promptKey: "cat" })))).toEqual(["a", "b"]);
  });

  it("ignores affinity to a host that cannot take the request", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")], () => 0.99);
    sidecars.set("a", load({ draining: true })).set("b", load({ queue: 3 }));
    pool.reportSuccess("a", "cat");
    expect(ids(await pool.candidates(want({ promptKey: "cat" })))).toEqual(["b"]);
  });
});

describe("circuit breaker", () => {
  it("skips a host after 3 failures, half-opens it for one trial after the cool-down, closes on success", async () => {
    const { sidecars, pool, clock } = setup([host("a"), host("b")], sequence(), {
      breaker: { baseCooldownMs: 5_000 },
    });
    sidecars.set("a", load()).set("b", load({ queue: 2 }));
    expect(ids(await pool.candidates(want()))).toEqual(["a", "b"]);
    pool.reportFailure("a");
    pool.reportFailure("a");
    expect(ids(await pool.candidates(want()))).toEqual(["a", "b"]);
    pool.reportFailure("a");
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
    // Not polled while open.
    const polls = sidecars.callsTo("a");
    clock.advance(4_999);
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
    expect(sidecars.callsTo("a")).toBe(polls);

    clock.advance(1);
    expect(ids(await pool.candidates(want()))).toEqual(["a", "b"]);
    expect(pool.status()[0]?.breaker).toBe("half_open");
    // The trial is out: no other request goes there meanwhile.
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
    pool.reportSuccess("a");
    expect(pool.status()[0]?.breaker).toBe("closed");
    expect(ids(await pool.candidates(want()))).toEqual(["a", "b"]);
  });

  it("reopens for twice as long when the trial fails", async () => {
    const { sidecars, pool, clock } = setup([host("a"), host("b")], sequence(), {
      breaker: { baseCooldownMs: 5_000 },
    });
    sidecars.set("a", load()).set("b", load({ queue: 2 }));
    for (let i = 0; i < 3; i++) pool.reportFailure("a");
    clock.advance(5_000);
    expect(ids(await pool.candidates(want()))).toEqual(["a", "b"]);
    pool.reportFailure("a");
    clock.advance(9_999);
    expect(ids(await pool.candidates(want()))).toEqual(["b"]);
    clock.advance(1);
    expect(ids(await pool.candidates(want()))).toEqual(["a", "b"]);
  });

  it("opens after 3 failed GetLoads, and a failed GetLoad in half-open reopens it", async () => {
    const { sidecars, pool, clock } = setup([host("a"), host("b")], sequence(), {
      breaker: { baseCooldownMs: 5_000 },
    });
    sidecars.set("a", new Error("connection refused")).set("b", load());
    for (let i = 0; i < 3; i++) await pool.candidates(want());
    expect(sidecars.callsTo("a")).toBe(3);
    expect(pool.status()[0]?.breaker).toBe("open");
    await pool.candidates(want());
    expect(sidecars.callsTo("a")).toBe(3);
    clock.advance(5_000);
    await pool.candidates(want());
    expect(sidecars.callsTo("a")).toBe(4);
    expect(pool.status()[0]?.breaker).toBe("open");
    clock.advance(9_999);
    await pool.candidates(want());
    expect(sidecars.callsTo("a")).toBe(4);
  });

  it("does not close a half-open breaker on a GetLoad success: only a served request does", async () => {
    const { sidecars, pool, clock } = setup([host("a")], sequence(), { breaker: { baseCooldownMs: 5_000 } });
    sidecars.set("a", load());
    for (let i = 0; i < 3; i++) pool.reportFailure("a");
    clock.advance(5_000);
    expect(ids(await pool.candidates(want()))).toEqual(["a"]);
    expect(pool.status()[0]?.breaker).toBe("half_open");
  });
});

describe("load reports", () => {
  it("shares one GetLoad per host between concurrent candidates() calls", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars.set("a", load()).set("b", load({ queue: 1 }));
    sidecars.hold();
    const pending = [pool.candidates(want()), pool.candidates(want()), pool.models()];
    sidecars.releaseHeld();
    const [first, second] = await Promise.all(pending);
    expect(sidecars.calls.sort()).toEqual(["a", "b"]);
    expect(ids(first as RouteCandidate[])).toEqual(["a", "b"]);
    expect(ids(second as RouteCandidate[])).toEqual(["a", "b"]);
  });

  it("reuses a report younger than 2 s and refreshes an older one", async () => {
    const { sidecars, pool, clock } = setup([host("a"), host("b")]);
    sidecars.set("a", load()).set("b", load({ queue: 1 }));
    await pool.candidates(want());
    clock.advance(1_999);
    await pool.candidates(want());
    expect(sidecars.calls).toEqual(["a", "b"]);
    sidecars.set("a", load({ queue: 5 }));
    clock.advance(1);
    expect(ids(await pool.candidates(want()))).toEqual(["b", "a"]);
    expect(sidecars.calls).toEqual(["a", "b", "a", "b"]);
  });
});

describe("SidecarPool.models", () => {
  it("lists each model of the serving hosts once, the first host's ModelInfo winning", async () => {
    const { sidecars, pool } = setup([host("a"), host("b"), host("c"), host("d", ["tiny-sana"])]);
    const tinyOnB = { ...model("tiny-sana"), revision: "other" };
    sidecars
      .set("a", new Error("down"))
      .set("b", load({ models: [model("sana-1.6b"), tinyOnB] }))
      .set("c", load({ draining: true, models: [model("sana-sprint")] }))
      .set("d", load({ models: [model("tiny-sana"), model("secret")] }));
    const models = await pool.models();
    expect(models.map((m) => m.id)).toEqual(["sana-1.6b", "tiny-sana"]);
    expect(models[1]?.revision).toBe("other");
  });
});

describe("explainNoRoute", () => {
  it("says unknown_model when no host serves the model", async () => {
    const { sidecars, pool } = setup([host("a")]);
    sidecars.set("a", load());
    const request = want({ model: "nope" });
    expect(await pool.candidates(request)).toEqual([]);
    expect(pool.explainNoRoute(request)).toBe("unknown_model");
  });

  it("says size_too_large when hosts serve the model but not at that size", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars
      .set("a", load({ models: [model("tiny-sana", 512)] }))
      .set("b", load({ models: [model("tiny-sana", 1024)] }));
    const request = want({ width: 2048, height: 1024 });
    expect(await pool.candidates(request)).toEqual([]);
    expect(pool.explainNoRoute(request)).toBe("size_too_large");
  });

  it("says no_healthy_host when the hosts that serve it are failing", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars.set("a", load()).set("b", load({ models: [model("other")] }));
    await pool.candidates(want());
    for (let i = 0; i < 3; i++) pool.reportFailure("a");
    expect(await pool.candidates(want())).toEqual([]);
    expect(pool.explainNoRoute(want())).toBe("no_healthy_host");
  });

  it("says all_draining when every healthy host that serves it is shutting down", async () => {
    const { sidecars, pool } = setup([host("a"), host("b")]);
    sidecars.set("a", load({ draining: true })).set("b", new Error("down"));
    expect(await pool.candidates(want())).toEqual([]);
    expect(pool.explainNoRoute(want())).toBe("all_draining");
  });

  it("blames health, not the model, for hosts never reached (unless their allow-list rules the model out)", () => {
    const status = (config: SidecarConfig): HostStatus => ({ config, load: undefined, healthy: false });
    expect(explainNoRoute([status(host("a"))], want({ model: "anything" }))).toBe("no_healthy_host");
    expect(explainNoRoute([status(host("a", ["tiny-sana"]))], want({ model: "tiny-sana" }))).toBe(
      "no_healthy_host",
    );
    expect(explainNoRoute([status(host("a", ["tiny-sana"]))], want({ model: "other" }))).toBe(
      "unknown_model",
    );
  });
});
