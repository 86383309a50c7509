import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { run as dockerfilelint } from "dockerfilelint";
import { describe, expect, it } from "vitest";
import { parseServeArgs } from "../../sidecar/src/cli/serve.js";
import {
  argumentsOf,
  DOCKERFILES,
  envOf,
  execForm,
  fullTextOf,
  instructionsOf,
  type ParsedDockerfile,
  parseDockerfile,
  runtimeUid,
} from "./support/dockerfiles.js";
import { isObject, loadManifests, REPO_ROOT } from "./support/manifests.js";

// The sidecar images, checked without Docker: dockerfilelint's rules, then ours (dockerfile-ast) — what the
// runtime stage may contain, who it runs as, how it starts and reports health, and that it agrees with the
// sidecar's ports and the Kubernetes Deployment.

const sidecarPackage = JSON.parse(readFileSync(join(REPO_ROOT, "sidecar/package.json"), "utf8")) as {
  bin: Record<string, string>;
};
const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
};
const defaults = parseServeArgs([], { SANA_SIDECAR_SECRET: "x".repeat(32) });

/** Words of every `apt-get install` in a stage, flags left out. */
function aptPackages(dockerfile: ParsedDockerfile, stage = dockerfile.runtime): string[] {
  return instructionsOf(stage, "RUN").flatMap((run) =>
    [...argumentsOf(run).matchAll(/apt-get install ([^&;|]*)/g)].flatMap(([, words]) =>
      (words ?? "").split(" ").filter((word) => word !== "" && !word.startsWith("-")),
    ),
  );
}

const COMPILERS =
  /^(gcc|g\+\+|cpp|clang|llvm|cmake|make|ninja-build|build-essential|cuda-nvcc|nvidia-cuda-toolkit)(-[\d.]+)?$/;

describe.each(DOCKERFILES)("%s", (path) => {
  const dockerfile = parseDockerfile(path);
  const { runtime } = dockerfile;

  it("passes dockerfilelint, apart from its false positive on HEALTHCHECK --start-period", () => {
    const lines = dockerfile.text.split("\n");
    const issues = dockerfilelint(join(REPO_ROOT, "infra/sidecar"), dockerfile.text).filter((item) => {
      // dockerfilelint 1.8 reads "--start-period" as the unknown option "--start" (its regex stops at "-").
      const line = lines[Number(item.line) - 1] ?? "";
      return !(item.title === "Invalid Argument Format" && /^HEALTHCHECK .*--start-period=/.test(line));
    });
    expect(issues).toEqual([]);
  });

  it("pins every base image to a version, and builds in a stage the runtime stage leaves behind", () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) {
      expect(stage.image, "unresolved build argument").not.toMatch(/\$/);
      expect(stage.image).toMatch(/:[\w.-]+$/);
      expect(stage.image).not.toMatch(/:latest$/);
    }
    expect(runtime.name).toBe("runtime");
    expect(dockerfile.stages[0]?.name).toBe("build");
  });

  it("builds the addon, compiles the TypeScript and prunes dev dependencies in the build stage", () => {
    const build = dockerfile.stages[0];
    if (build === undefined) throw new Error("no build stage");
    const runs = instructionsOf(build, "RUN").map(argumentsOf).join("\n");
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build --workspace native\b/);
    // The build fails unless the addon loads and reports OpenBLAS.
    expect(runs).toMatch(/buildInfo\(\).*b\.cblas/);
    expect(runs).toMatch(/tsc -b native proto sidecar\b/);
    expect(runs).toMatch(/npm prune --omit=dev\b/);
    for (const wanted of ["cmake", "ninja-build", "libopenblas-dev", "nlohmann-json3-dev"])
      expect(aptPackages(dockerfile, build)).toContain(wanted);
  });

  it("ships no compiler, no -dev package and no npm step in the runtime stage", () => {
    expect(runtime.image).toMatch(/-runtime-|-slim$/);
    const packages = aptPackages(dockerfile);
    expect(packages).toContain("libopenblas0");
    for (const name of packages) {
      expect(name).not.toMatch(COMPILERS);
      expect(name).not.toMatch(/-dev$/);
    }
    for (const run of instructionsOf(runtime, "RUN"))
      expect(argumentsOf(run)).not.toMatch(/\b(npm|npx|tsx)\b/);
  });

  it("runs as a named non-root user with a fixed uid, from a WORKDIR", () => {
    const users = instructionsOf(runtime, "USER").map(argumentsOf);
    const user = users.at(-1) ?? "root";
    expect(user.split(":")[0]).not.toMatch(/^(root|0)$/);
    expect(runtimeUid(dockerfile)).toBeGreaterThanOrEqual(10000);
    expect(instructionsOf(runtime, "WORKDIR").map(argumentsOf)).toEqual(["/app"]);
  });

  it("starts `sana serve` from the compiled CLI that sidecar/package.json names as its bin", () => {
    const entrypoint = instructionsOf(runtime, "ENTRYPOINT");
    expect(entrypoint.map(execForm)).toEqual([["sana", "serve"]]);
    const binary = `/app/sidecar/${sidecarPackage.bin.sana?.replace(/^\.\//, "")}`;
    expect(binary).toBe("/app/sidecar/dist/cli/sana.js");
    const runs = instructionsOf(runtime, "RUN").map(argumentsOf).join("\n");
    expect(runs).toContain(`ln -s ${binary} /usr/local/bin/sana`);
    const copies = instructionsOf(runtime, "COPY").map(fullTextOf);
    expect(copies).toContain("COPY --from=build /app/sidecar/dist sidecar/dist");
    expect(copies).toContain(
      "COPY --from=build /app/native/build/Release/sana_native.node native/build/Release/",
    );
    // Executed through the symlink: the compiled file keeps the source's shebang.
    const source = readFileSync(join(REPO_ROOT, "sidecar/src/cli/sana.ts"), "utf8");
    expect(source.startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("checks health with `sana health` (gRPC health) in exec form, with a start period for loading", () => {
    const checks = instructionsOf(runtime, "HEALTHCHECK");
    expect(checks).toHaveLength(1);
    const [check] = checks;
    if (check === undefined) throw new Error("no HEALTHCHECK");
    expect(execForm(check).slice(0, 2)).toEqual(["sana", "health"]);
    expect(fullTextOf(check)).toMatch(/^HEALTHCHECK .*--start-period=\d+[sm] .*CMD /);
  });

  it("exposes the sidecar's serving port and the metrics port its environment turns on, as the Deployment does", () => {
    const env = envOf(runtime);
    expect(Number(env.get("SANA_PORT"))).toBe(defaults.port);
    expect(env.get("SANA_HOST")).toBe("0.0.0.0");
    const metricsPort = Number(env.get("SANA_METRICS_PORT"));
    expect(metricsPort).toBeGreaterThan(0);
    const exposed = instructionsOf(runtime, "EXPOSE")
      .flatMap((e) => argumentsOf(e).split(" "))
      .map((p) => Number(p.replace(/\/tcp$/, "")))
      .sort();
    expect(exposed).toEqual([defaults.port, metricsPort].sort());
    const deployment = loadManifests().find((m) => m.kind === "Deployment" && m.file === "deployment.yaml");
    const spec = deployment?.doc.spec;
    const template = isObject(spec) ? spec.template : undefined;
    const podSpec = isObject(template) ? template.spec : undefined;
    const containers = isObject(podSpec) && Array.isArray(podSpec.containers) ? podSpec.containers : [];
    const ports = containers.flatMap((c) => (isObject(c) && Array.isArray(c.ports) ? c.ports : []));
    expect(ports.map((p) => (isObject(p) ? Number(p.containerPort) : 0)).sort()).toEqual(exposed);
  });

  it("copies from the build context only paths that exist in the repository", () => {
    for (const stage of dockerfile.stages) {
      for (const copy of instructionsOf(stage, "COPY")) {
        if (fullTextOf(copy).includes("--from=")) continue;
        const words = argumentsOf(copy).split(" ");
        for (const source of words.slice(0, -1))
          expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
      }
    }
  });
});

describe("the two images", () => {
  const [cuda, cpu] = DOCKERFILES.map(parseDockerfile) as [ParsedDockerfile, ParsedDockerfile];

  it("build the CUDA image with nvcc on CUDA 12 / Ubuntu 22.04 and run it on the same CUDA's runtime image", () => {
    const version = cuda.globalArgs.get("CUDA_VERSION") ?? "";
    expect(version).toMatch(/^12\.\d+\.\d+$/);
    expect(cuda.stages[0]?.image).toBe(`nvidia/cuda:${version}-devel-ubuntu22.04`);
    expect(cuda.runtime.image).toBe(`nvidia/cuda:${version}-runtime-ubuntu22.04`);
    // The build fails unless the addon reports the CUDA backend.
    const runs = instructionsOf(cuda.stages[0] ?? cuda.runtime, "RUN")
      .map(argumentsOf)
      .join("\n");
    expect(runs).toMatch(/b\.cuda && b\.cblas/);
  });

  it("use the same Node 20 release, one that satisfies package.json's engines", () => {
    const version = cuda.globalArgs.get("NODE_VERSION") ?? "";
    expect(cpu.globalArgs.get("NODE_VERSION")).toBe(version);
    const [major, minor] = version.split(".").map(Number);
    const [, wantMajor, wantMinor] = /^>=(\d+)\.(\d+)/.exec(rootPackage.engines.node) ?? [];
    expect(major).toBe(20);
    expect(
      major === Number(wantMajor) ? (minor ?? 0) >= Number(wantMinor) : (major ?? 0) > Number(wantMajor),
    ).toBe(true);
    expect(cpu.stages[0]?.image).toBe(`node:${version}-bookworm`);
    expect(cpu.runtime.image).toBe(`node:${version}-bookworm-slim`);
  });

  it("agree on user, ports, environment, entrypoint and health check", () => {
    const shape = (d: ParsedDockerfile) => ({
      uid: runtimeUid(d),
      user: instructionsOf(d.runtime, "USER").map(argumentsOf),
      expose: instructionsOf(d.runtime, "EXPOSE").map(argumentsOf),
      env: Object.fromEntries(envOf(d.runtime)),
      entrypoint: instructionsOf(d.runtime, "ENTRYPOINT").map(execForm),
      health: instructionsOf(d.runtime, "HEALTHCHECK").map(fullTextOf),
    });
    expect(shape(cpu)).toEqual(shape(cuda));
  });
});
