import type { Env } from "../env.js";
import { parsePoolConfig, type SidecarConfig, SidecarPool } from "../routing/index.js";
import { ImageStore } from "../storage/image-store.js";
import { type SidecarClient, sidecarClient } from "../upstream/client.js";
import type { GenerationDeps } from "./run-generation.js";

// The sidecar pool and clients live as long as the isolate: load reports, circuit breakers
// and prompt affinity are worth keeping between requests. They are rebuilt only when the
// configuration changes (a new deployment).

interface IsolateState {
  readonly config: string;
  readonly pool: SidecarPool;
  readonly clientFor: (host: SidecarConfig) => SidecarClient;
}

let isolate: IsolateState | undefined;

function isolateState(env: Env): IsolateState {
  const config = `${env.SIDECARS}\u0000${env.SIDECAR_SECRET ?? ""}`;
  if (isolate?.config === config) return isolate;
  const clients = new Map<string, SidecarClient>();
  const clientFor = (host: SidecarConfig) => {
    let client = clients.get(host.id);
    if (client === undefined) {
      client = sidecarClient(host.url, env.SIDECAR_SECRET);
      clients.set(host.id, client);
    }
    return client;
  };
  const pool = new SidecarPool(parsePoolConfig(env.SIDECARS), {
    fetchLoad: (host, signal) => clientFor(host).getLoad({}, signal === undefined ? {} : { signal }),
  });
  isolate = { config, pool, clientFor };
  return isolate;
}

export function generationDeps(env: Env, waitUntil: (work: Promise<unknown>) => void): GenerationDeps {
  const state = isolateState(env);
  return {
    pool: state.pool,
    clientFor: state.clientFor,
    store: new ImageStore(env.IMAGES, caches.default, waitUntil),
  };
}
