import type { GetLoadResponse, ModelInfo } from "@sana-edge/proto";
import { AffinityLru, DEFAULT_AFFINITY_ENTRIES } from "./affinity.js";
import { type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.js";
import type { SidecarConfig } from "./config.js";
import {
  explainNoRoute,
  fitsSize,
  type HostStatus,
  modelFor,
  type NoRouteReason,
  type RouteRequest,
  servedModels,
} from "./eligibility.js";
import { loadScore, pickTwoChoices } from "./p2c.js";

// The sidecar pool of one isolate. Everything here is per-isolate memory (load reports, breakers,
// affinity): nothing is shared across isolates or persisted, because every isolate can rebuild it from a
// few GetLoad calls, and a Durable Object on the request path would add a round trip to every request.

export interface PoolDeps {
  /** Calls the sidecar's GetLoad RPC; rejects when the host cannot be reached. */
  fetchLoad(host: SidecarConfig, signal?: AbortSignal): Promise<GetLoadResponse>;
  /** Clock (ms) for load ages, cool-downs and trial leases; Date.now by default. */
  now?: () => number;
  /** Uniform in [0, 1) for the two random choices; Math.random by default. */
  random?: () => number;
}

export interface PoolOptions {
  /** A load report older than this (ms) is refreshed before routing on it. */
  readonly loadMaxAgeMs?: number;
  /** A GetLoad that takes longer (ms) is aborted and counts as a failure. */
  readonly loadTimeoutMs?: number;
  /** How many more queued jobs (per slot of its capacity) the affinity host may have than the p2c pick. */
  readonly affinitySlackJobs?: number;
  /** Prompt keys remembered for affinity. */
  readonly affinityEntries?: number;
  readonly breaker?: BreakerOptions;
}

export interface RouteCandidate {
  readonly host: SidecarConfig;
  /** The host's ModelInfo for the requested model (its revision belongs in cache keys). */
  readonly model: ModelInfo;
  /** Why it is at this position: the prompt's last host, the two-choices pick, or failover order. */
  readonly via: "affinity" | "p2c" | "failover";
}

export interface HostReport extends HostStatus {
  readonly breaker: BreakerState;
  /** When the last GetLoad attempt settled (ms by the pool's clock); undefined before the first. */
  readonly loadAt: number | undefined;
}

interface HostState {
  readonly config: SidecarConfig;
  readonly breaker: CircuitBreaker;
  load: GetLoadResponse | undefined;
  loadAt: number | undefined;
  /** Whether the latest GetLoad attempt succeeded (a host that just failed one is not routed to). */
  loadOk: boolean;
  /** The GetLoad in flight, shared by every request that needs it. */
  refreshing: { readonly since: number; readonly promise: Promise<void> } | undefined;
}

interface Eligible {
  readonly state: HostState;
  readonly load: GetLoadResponse;
  readonly model: ModelInfo;
  readonly score: number;
}

export class SidecarPool {
  private readonly hosts: readonly HostState[];
  private readonly byId: ReadonlyMap<string, HostState>;
  private readonly affinity: AffinityLru;
  private readonly fetchLoad: PoolDeps["fetchLoad"];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly loadMaxAgeMs: number;
  private readonly loadTimeoutMs: number;
  private readonly affinitySlackJobs: number;

  constructor(configs: readonly SidecarConfig[], deps: PoolDeps, options: PoolOptions = {}) {
    this.hosts = configs.map((config) => ({
      config,
      breaker: new CircuitBreaker(options.breaker),
      load: undefined,
      loadAt: undefined,
      loadOk: false,
      refreshing: undefined,
    }));
    this.byId = new Map(this.hosts.map((h) => [h.config.id, h]));
    this.affinity = new AffinityLru(options.affinityEntries ?? DEFAULT_AFFINITY_ENTRIES);
    this.fetchLoad = deps.fetchLoad;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.loadMaxAgeMs = options.loadMaxAgeMs ?? 2_000;
    this.loadTimeoutMs = options.loadTimeoutMs ?? 1_500;
    this.affinitySlackJobs = options.affinitySlackJobs ?? 1;
  }

  /**
   * The hosts to try for `want`, best first: the prompt's last host if it is not much busier than the
   * two-choices pick, else that pick, then every other eligible host by ascending load (failover order).
   * Eligible: breaker closed or half-open, latest GetLoad fine, not draining, serving the model at that
   * size. [] when none is; explainNoRoute(want) says why.
   */
  async candidates(want: RouteRequest): Promise<RouteCandidate[]> {
    await this.refreshDue();
    const now = this.now();
    const eligible: Eligible[] = [];
    for (const state of this.hosts) {
      const load = state.load;
      if (load === undefined || !state.loadOk || load.draining || !state.breaker.allows(now)) continue;
      const model = modelFor(state.config, load, want.model);
      if (model === undefined || !fitsSize(model, want.width, want.height)) continue;
      eligible.push({ state, load, model, score: loadScore(load) });
    }
    const pick = pickTwoChoices(eligible, (e) => e.score, this.random);
    if (pick === undefined) return [];

    let first = pick;
    let via: RouteCandidate["via"] = "p2c";
    const affinityId = want.promptKey === "" ? undefined : this.affinity.get(want.promptKey);
    const sticky = eligible.find((e) => e.state.config.id === affinityId);
    // The embedding cache saves one text encode; a queue more than a job longer costs a whole generation.
    if (
      sticky !== undefined &&
      sticky.score <= pick.score + this.affinitySlackJobs / Math.max(sticky.load.capacity, 1)
    ) {
      first = sticky;
      via = "affinity";
    }
    // Array.prototype.sort is stable: equally loaded hosts keep configuration order.
    const rest = eligible.filter((e) => e !== first).sort((a, b) => a.score - b.score);
    const ordered = [first, ...rest];
    // A half-open host in the list is that host's one trial, whatever its position: concurrent requests
    // must not all probe a host that was failing seconds ago.
    for (const e of ordered) e.state.breaker.beginTrial(now);
    return ordered.map((e, i) => ({ host: e.state.config, model: e.model, via: i === 0 ? via : "failover" }));
  }

  /** Why candidates(want) found no host, from the state it left. */
  explainNoRoute(want: Pick<RouteRequest, "model" | "width" | "height">): NoRouteReason {
    return explainNoRoute(this.status(), want);
  }

  /** A request to this host succeeded: close its breaker; remember it for the prompt. */
  reportSuccess(hostId: string, promptKey?: string): void {
    const state = this.byId.get(hostId);
    if (state === undefined) return;
    state.breaker.recordSuccess();
    if (promptKey !== undefined && promptKey !== "") this.affinity.set(promptKey, hostId);
  }

  /** A request to this host failed in a way that is the host's fault (unreachable, UNAVAILABLE, ...). */
  reportFailure(hostId: string): void {
    this.byId.get(hostId)?.breaker.recordFailure(this.now());
  }

  /**
   * The models of the hosts able to serve (breaker not open, latest GetLoad fine, not draining), each id
   * once, the first host's ModelInfo winning, in configuration order.
   */
  async models(): Promise<ModelInfo[]> {
    await this.refreshDue();
    const now = this.now();
    const seen = new Map<string, ModelInfo>();
    for (const state of this.hosts) {
      const load = state.load;
      if (load === undefined || !state.loadOk || load.draining || state.breaker.state(now) === "open")
        continue;
      for (const model of servedModels(state.config, load))
        if (!seen.has(model.id)) seen.set(model.id, model);
    }
    return [...seen.values()];
  }

  /** Every host as routing sees it now, in configuration order (for explainNoRoute, logs, a status page). */
  status(): HostReport[] {
    const now = this.now();
    return this.hosts.map((s) => ({
      config: s.config,
      load: s.load,
      healthy: s.loadOk && s.breaker.allows(now),
      breaker: s.breaker.state(now),
      loadAt: s.loadAt,
    }));
  }

  /** Refreshes, in parallel, every stale load report of a host a request could go to. */
  private async refreshDue(): Promise<void> {
    const now = this.now();
    const waits: Promise<void>[] = [];
    for (const state of this.hosts) {
      // An open breaker (or a half-open one whose trial is out) means no request goes there, GetLoad
      // included: a host that is down is not polled on every request.
      if (!state.breaker.allows(now)) continue;
      const fresh = state.loadOk && state.loadAt !== undefined && now - state.loadAt < this.loadMaxAgeMs;
      if (!fresh) waits.push(this.awaitBounded(this.refresh(state, now)));
    }
    await Promise.all(waits);
  }

  private refresh(state: HostState, now: number): Promise<void> {
    const current = state.refreshing;
    // Joined, not repeated: one GetLoad per host however many requests need it. One older than twice its
    // timeout was abandoned (see awaitBounded) and is replaced.
    if (current !== undefined && now - current.since < 2 * this.loadTimeoutMs) return current.promise;
    const promise: Promise<void> = this.runRefresh(state).finally(() => {
      if (state.refreshing?.promise === promise) state.refreshing = undefined;
    });
    state.refreshing = { since: now, promise };
    return promise;
  }

  /** One GetLoad with a timeout; records its outcome and never rejects. */
  private async runRefresh(state: HostState): Promise<void> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`GetLoad of ${state.config.id} timed out after ${this.loadTimeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, this.loadTimeoutMs);
    });
    let outcome: { ok: true; load: GetLoadResponse } | { ok: false };
    try {
      outcome = {
        ok: true,
        load: await Promise.race([this.fetchLoad(state.config, controller.signal), timeout]),
      };
    } catch {
      outcome = { ok: false };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    const settledAt = this.now();
    state.loadAt = settledAt;
    state.loadOk = outcome.ok;
    if (outcome.ok) state.load = outcome.load;
    // A host that cannot answer GetLoad cannot serve. A GetLoad success does not close the breaker:
    // that takes a served request (reportSuccess), or a host whose GetLoad answers but whose Generate
    // fails would never stay open.
    else state.breaker.recordFailure(settledAt);
  }

  /**
   * Waits for a shared refresh, but no longer than its own timeout plus a margin, on a timer of the
   * waiting request. In Workers, I/O started by one request is cancelled when that request ends, so a
   * GetLoad another request started may never settle; this request then routes on what it knows.
   */
  private awaitBounded(promise: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.loadTimeoutMs + 100);
    });
    return Promise.race([promise, bound]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }
}
