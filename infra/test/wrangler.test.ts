import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { unstable_readConfig as readConfig } from "wrangler";
import { parsePoolConfig } from "../../edge/src/routing/config.js";
import { isObject, loadManifests, REPO_ROOT } from "./support/manifests.js";

// The edge's deployment environments in wrangler.toml: every binding redeclared (wrangler inherits none),
// distinct resources per environment, a sidecar pool that parses, and a bundle that `wrangler deploy
// --dry-run` builds offline and that fits the Workers size limits.

const ENVIRONMENTS = ["staging", "production"] as const;
const CONFIG = join(REPO_ROOT, "wrangler.toml");
const WRANGLER = join(REPO_ROOT, "node_modules/.bin/wrangler");
/** Workers' limits on the compressed worker (modules; static assets are not counted). */
const FREE_PLAN_LIMIT = 3 * 2 ** 20;
const PAID_PLAN_LIMIT = 10 * 2 ** 20;

/** The parts of wrangler's resolved configuration read here (its own types do not resolve outside wrangler). */
interface WranglerConfig {
  name: string | undefined;
  main: string | undefined;
  workers_dev: boolean | undefined;
  routes: unknown[] | undefined;
  assets: unknown;
  migrations: unknown[];
  vars: Record<string, unknown>;
  kv_namespaces: { binding: string; id?: string }[];
  r2_buckets: { binding: string; bucket_name?: string }[];
  durable_objects: { bindings: { name: string; class_name: string; script_name?: string }[] };
}

/** wrangler.toml as wrangler resolves it for `env` (inheritance applied), or its top level. */
function load(env?: string): WranglerConfig {
  const config: WranglerConfig = readConfig(env === undefined ? { config: CONFIG } : { config: CONFIG, env });
  return config;
}

const top = load();
const configs: Record<string, WranglerConfig> = Object.fromEntries(
  ENVIRONMENTS.map((env) => [env, load(env)]),
);

interface DryRun {
  code: number | null;
  output: string;
  outdir: string;
}

const outRoot = mkdtempSync(join(tmpdir(), "sana-wrangler-"));
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

/** `wrangler deploy --dry-run --outdir DIR --env ENV`: bundles without an account, a token or the network. */
function dryRun(env: string): Promise<DryRun> {
  const outdir = join(outRoot, env);
  const child = spawn(WRANGLER, ["deploy", "--dry-run", "--outdir", outdir, "--env", env], {
    cwd: REPO_ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0", CI: "1" },
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    output += text;
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => {
    output += text;
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, output, outdir })));
}

// Both bundles at once (~1.5 s each).
const dryRuns = Object.fromEntries(ENVIRONMENTS.map((env) => [env, dryRun(env)]));

function bindingNames<T>(items: readonly T[] | undefined, name: (item: T) => string): string[] {
  return (items ?? []).map(name).sort();
}

describe.each(ENVIRONMENTS)("wrangler environment %s", (env) => {
  const config = configs[env];
  if (config === undefined) throw new Error(`no config for ${env}`);

  it("redeclares every binding and var of the top level, and inherits main, assets and migrations", () => {
    expect(config.name).toBe(`${top.name}-${env}`);
    expect(bindingNames(config.kv_namespaces, (k) => k.binding)).toEqual(
      bindingNames(top.kv_namespaces, (k) => k.binding),
    );
    expect(bindingNames(config.r2_buckets, (b) => b.binding)).toEqual(
      bindingNames(top.r2_buckets, (b) => b.binding),
    );
    const objects = (c: WranglerConfig) =>
      bindingNames(c.durable_objects.bindings, (b) => `${b.name}=${b.class_name}@${b.script_name ?? ""}`);
    expect(objects(config)).toEqual(objects(top));
    expect(Object.keys(config.vars).sort()).toEqual(Object.keys(top.vars).sort());
    expect(config.main).toBe(top.main);
    expect(config.assets).toEqual(top.assets);
    // Migrations are inherited: each environment's worker gets the same Durable Object classes created.
    expect(config.migrations).toEqual(top.migrations);
    expect(config.migrations.length).toBeGreaterThan(0);
  });

  it("uses its own KV namespace and R2 bucket, never the local ones or another environment's", () => {
    const others = [top, ...ENVIRONMENTS.filter((e) => e !== env).map((e) => configs[e])];
    const [kv] = config.kv_namespaces;
    const [bucket] = config.r2_buckets;
    // Until the operator pastes the id from `wrangler kv namespace create`, a named placeholder.
    expect(kv?.id).toMatch(/^([0-9a-f]{32}|REPLACE_WITH_[A-Z_]+_ID)$/);
    expect(bucket?.bucket_name).toMatch(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
    for (const other of others) {
      expect(other?.kv_namespaces.map((k) => k.id)).not.toContain(kv?.id);
      expect(other?.r2_buckets.map((b) => b.bucket_name)).not.toContain(bucket?.bucket_name);
    }
  });

  it("routes to a sidecar pool of https URLs that the edge's own parser accepts, and keeps the secret out of vars", () => {
    const pool = parsePoolConfig(String(config.vars.SIDECARS));
    expect(pool.length).toBeGreaterThan(0);
    for (const sidecar of pool) expect(new URL(sidecar.url).protocol).toBe("https:");
    expect(Object.keys(config.vars)).not.toContain("SIDECAR_SECRET");
    for (const name of ["RATE_LIMIT_RPM", "RATE_LIMIT_CONCURRENCY"])
      expect(Number(config.vars[name]), name).toBeGreaterThan(0);
  });

  it("deploys with `wrangler deploy --dry-run` without warnings, listing every binding", async () => {
    const run = await dryRuns[env];
    expect(run?.code, run?.output).toBe(0);
    expect(run?.output).not.toMatch(/WARNING|ERROR/);
    for (const binding of ["KEYS", "IMAGES", "RATE_LIMITER", "COALESCER", "SIDECARS", "RATE_LIMIT_RPM"])
      expect(run?.output).toContain(`env.${binding} (`);
  });

  it("bundles a worker whose gzipped size fits the free plan's 3 MiB (and so the paid plan's 10 MiB)", async () => {
    const run = await dryRuns[env];
    if (run === undefined) throw new Error("no dry run");
    const modules = readdirSync(run.outdir).filter((file) => /\.(m?js|wasm)$/.test(file));
    expect(modules.length).toBeGreaterThan(0);
    const raw = modules.reduce((sum, file) => sum + readFileSync(join(run.outdir, file)).length, 0);
    const gzipped = modules.reduce(
      (sum, file) => sum + gzipSync(readFileSync(join(run.outdir, file))).length,
      0,
    );
    // wrangler's own summary ("Total Upload: X KiB / gzip: Y KiB") must describe the same bundle.
    const reported = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(run.output);
    expect(Number(reported?.[1]) * 1024).toBeCloseTo(raw, -3);
    expect(Math.abs(Number(reported?.[2]) * 1024 - gzipped) / gzipped).toBeLessThan(0.1);
    console.log(
      `${env}: worker ${(raw / 1024).toFixed(0)} KiB, gzip ${(gzipped / 1024).toFixed(0)} KiB = ` +
        `${((100 * gzipped) / FREE_PLAN_LIMIT).toFixed(1)}% of the free plan's 3 MiB, ` +
        `${((100 * gzipped) / PAID_PLAN_LIMIT).toFixed(1)}% of the paid plan's 10 MiB`,
    );
    expect(gzipped).toBeLessThan(FREE_PLAN_LIMIT);
    expect(gzipped).toBeLessThan(PAID_PLAN_LIMIT);
  });
});

describe("production", () => {
  const production = configs.production;

  it("answers on its custom domain only, not on workers.dev", () => {
    expect(production?.workers_dev).toBe(false);
    expect(production?.routes?.length).toBeGreaterThan(0);
  });

  it("lists the Kubernetes Ingress host among its sidecars", () => {
    const ingress = loadManifests().find((m) => m.kind === "Ingress" && m.file === "ingress.yaml");
    const spec = ingress?.doc.spec;
    const rules = isObject(spec) && Array.isArray(spec.rules) ? spec.rules : [];
    const hosts = rules.map((rule) => (isObject(rule) ? rule.host : undefined));
    const urls = parsePoolConfig(String(production?.vars.SIDECARS)).map((s) => new URL(s.url).host);
    expect(hosts.length).toBeGreaterThan(0);
    for (const host of hosts) expect(urls).toContain(host);
  });
});
