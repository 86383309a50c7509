import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "./support/manifests.js";

// The runbook's commands must name what the repository really has: files, wrangler environments,
// the Kubernetes namespace, Secret and Deployment, and the keys command's subcommands. A rename
// that forgets infra/README.md fails here.

const runbook = readFileSync(join(REPO_ROOT, "infra/README.md"), "utf8");
/** The shell lines of the runbook's code blocks. */
const commands = [...runbook.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? "").split("\n"));
const shell = commands.join("\n");

function yamlOf(path: string): Record<string, unknown> {
  return parse(readFileSync(join(REPO_ROOT, path), "utf8")) as Record<string, unknown>;
}

function get(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined,
    value,
  );
}

describe("the runbook", () => {
  it("names only repository files that exist", () => {
    const paths = new Set(shell.match(/(?<![\w/-])(?:infra|edge|sidecar|stack|native)\/[\w./-]+/g) ?? []);
    expect(paths.size).toBeGreaterThan(3);
    for (const path of paths) expect(existsSync(join(REPO_ROOT, path)), path).toBe(true);
  });

  it("deploys only to wrangler environments that wrangler.toml declares", () => {
    const toml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8");
    const declared = new Set([...toml.matchAll(/^\[env\.([\w-]+)\]$/gm)].map((m) => m[1]));
    const used = new Set([...shell.matchAll(/--env ([\w-]+)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(0);
    for (const env of used) expect(declared.has(env), `--env ${env}`).toBe(true);
    for (const bucket of shell.matchAll(/r2 bucket create ([\w-]+)/g))
      expect(toml).toContain(`bucket_name = "${bucket[1]}"`);
  });

  it("uses the namespace, Secret and Deployment the manifests define", () => {
    const namespace = get(yamlOf("infra/k8s/namespace.yaml"), "metadata", "name");
    const deployment = yamlOf("infra/k8s/deployment.yaml");
    const deploymentName = get(deployment, "metadata", "name");
    const secretNames = new Set(
      JSON.stringify(get(deployment, "spec", "template", "spec", "containers"))
        .match(/"secretKeyRef":\{[^}]*\}/g)
        ?.map((ref) => /"name":"([^"]+)"/.exec(ref)?.[1]),
    );
    for (const m of shell.matchAll(/kubectl (?:-n|--namespace) ([\w-]+)/g)) expect(m[1]).toBe(namespace);
    for (const m of shell.matchAll(/deploy\/([\w-]+)/g)) expect(m[1]).toBe(deploymentName);
    for (const m of shell.matchAll(/create secret generic ([\w-]+)/g))
      expect(secretNames.has(m[1])).toBe(true);
    for (const m of shell.matchAll(/kubectl apply -k ([\w/.-]+)/g)) {
      expect(existsSync(join(REPO_ROOT, m[1] ?? "", "kustomization.yaml")), m[1]).toBe(true);
    }
  });

  it("runs only keys subcommands that edge/scripts/keys.ts has", () => {
    const script = readFileSync(join(REPO_ROOT, "edge/scripts/keys.ts"), "utf8");
    const used = [...shell.matchAll(/edge\/scripts\/keys\.ts (\w+)/g)].map((m) => m[1] ?? "");
    expect(used.length).toBeGreaterThan(0);
    for (const command of used) expect(script).toMatch(new RegExp(`^\\s+${command} `, "m"));
  });
});
