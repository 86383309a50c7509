import { join } from "node:path";
import { ImageService } from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import { parseServeArgs } from "../../sidecar/src/cli/serve.js";
import { DOCKERFILES, parseDockerfile, runtimeUid } from "./support/dockerfiles.js";
import {
  isObject,
  type Json,
  type JsonObject,
  K8S_DIR,
  KINDS,
  loadManifests,
  type Manifest,
  parseYamlFile,
  unknownFieldErrors,
  yamlFiles,
} from "./support/manifests.js";
import {
  closeGraceSeconds,
  exportedMetrics,
  exportedSeries,
  metricsPath,
  seriesIn,
} from "./support/sidecar-facts.js";

// infra/k8s checked without a cluster: every document against its kind's schema (kubernetes-models), no
// unknown fields, and the cross-references that only break at run time — ports, probes, grace periods,
// selectors, metric names — against the sidecar's own code.

// ── small typed accessors over parsed YAML ──────────────────────────────────────────────────────────────
function at(value: Json | undefined, ...path: (string | number)[]): Json | undefined {
  let current = value;
  for (const key of path) {
    if (typeof key === "number") current = Array.isArray(current) ? current[key] : undefined;
    else current = isObject(current) ? current[key] : undefined;
  }
  return current;
}
function object(value: Json | undefined, what: string): JsonObject {
  if (!isObject(value)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(value)}`);
  return value;
}
function list(value: Json | undefined, what: string): Json[] {
  if (!Array.isArray(value)) throw new Error(`${what}: expected a list, got ${JSON.stringify(value)}`);
  return value;
}
function text(value: Json | undefined, what: string): string {
  if (typeof value !== "string") throw new Error(`${what}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}
function named(items: Json[], name: string, what: string): JsonObject {
  const found = items.find((item) => isObject(item) && item.name === name);
  return object(found, `${what} named "${name}"`);
}
/** Bytes in a Kubernetes memory quantity ("20Gi", "512M"). */
function bytes(quantity: Json | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity));
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const units: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(match[1]) * (units[match[2] ?? ""] ?? 1);
}
function labelsMatch(selector: JsonObject, labels: JsonObject): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

// ── the documents ──────────────────────────────────────────────────────────────────────────────────────
const manifests = loadManifests();
const kustomization = object(parseYamlFile(join(K8S_DIR, "kustomization.yaml"))[0], "kustomization.yaml");
const NAMESPACE = text(kustomization.namespace, "kustomization namespace");

function one(kind: string, file?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (file === undefined || m.file === file));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${file ? ` in ${file}` : ""}, found ${found.length}`);
  return found[0] as Manifest;
}

const deployment = one("Deployment", "deployment.yaml");
const podTemplate = object(at(deployment.doc, "spec", "template"), "Deployment template");
const podSpec = object(podTemplate.spec, "pod spec");
const podLabels = object(at(podTemplate, "metadata", "labels"), "pod labels");
const container = named(list(podSpec.containers, "containers"), "sidecar", "container");
const containerArgs = list(container.args, "container args").map((arg) => text(arg, "arg"));
const containerPorts = list(container.ports, "container ports");
const service = one("Service");
const servicePorts = list(at(service.doc, "spec", "ports"), "Service ports");

/** The sidecar's configuration from the Deployment's args, parsed by `sana serve`'s own parser. */
function sidecarConfig() {
  const secretEnv = list(container.env, "env").find((e) => isObject(e) && e.name === "SANA_SIDECAR_SECRET");
  // The value comes from a Secret at run time; any 16+ characters stand in for it here.
  return parseServeArgs(containerArgs, secretEnv ? { SANA_SIDECAR_SECRET: "x".repeat(32) } : {});
}

function containerPort(name: string): number {
  return Number(named(containerPorts, name, "container port").containerPort);
}

describe("infra/k8s documents", () => {
  it("kustomization.yaml lists exactly the YAML files next to it and sets the Deployment's image", () => {
    const present = yamlFiles()
      .filter((file) => !file.includes("/") && file !== "kustomization.yaml")
      .sort();
    const listed = list(kustomization.resources, "resources")
      .map((r) => text(r, "resource"))
      .sort();
    expect(listed).toEqual(present);
    const images = list(kustomization.images, "images").map((i) => object(i, "image"));
    expect(images.map((i) => i.name)).toContain(container.image);
    expect(kustomization.kind).toBe("Kustomization");
  });

  it.each(manifests.map((m) => [`${m.file}#${m.index} ${m.kind}/${m.name}`, m] as const))(
    "%s is a kind we know and passes its schema",
    (_, manifest) => {
      const support = KINDS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(support, `no schema for ${manifest.apiVersion} ${manifest.kind}: add it to KINDS`).toBeDefined();
      expect(() => support?.validate(manifest.doc)).not.toThrow();
      expect(manifest.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    },
  );

  it("no document has a field its kind does not define (strict validation)", () => {
    expect(unknownFieldErrors(manifests)).toEqual([]);
  });

  it("every document lives in the kustomization's namespace and none is a Secret", () => {
    for (const manifest of manifests) {
      expect(manifest.kind).not.toBe("Secret");
      if (manifest.kind === "Namespace") expect(manifest.name).toBe(NAMESPACE);
      else expect([undefined, NAMESPACE]).toContain(at(manifest.doc, "metadata", "namespace"));
    }
  });
});

describe("the sidecar Deployment agrees with `sana serve`", () => {
  it("passes only flags `sana serve` accepts, listening on every interface with a shared secret", () => {
    const config = sidecarConfig();
    expect(config.host).toBe("0.0.0.0");
    expect(config.secret).toBeDefined();
    expect(containerArgs).not.toContain("--no-auth");
  });

  it("serves and exposes the same port the container, every probe and the Service name", () => {
    const { port } = sidecarConfig();
    expect(containerPort("grpc")).toBe(port);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      // Kubernetes' native gRPC probe: grpc.health.v1 on the serving port, plain text (no --tls-cert).
      expect(at(container, probe, "grpc", "port"), probe).toBe(port);
      expect(at(container, probe, "grpc", "service") ?? "", probe).toBe("");
    }
    expect(sidecarConfig().tls).toBeUndefined();
    const grpc = named(servicePorts, "grpc", "Service port");
    expect(grpc.port).toBe(port);
    expect([port, "grpc"]).toContain(grpc.targetPort);
    expect(grpc.appProtocol).toBeDefined();
  });

  it("serves metrics on the port the container, the Service and the ServiceMonitor name, at the sidecar's path", () => {
    const { metricsPort } = sidecarConfig();
    expect(containerPort("metrics")).toBe(metricsPort);
    const metrics = named(servicePorts, "metrics", "Service port");
    expect(metrics.port).toBe(metricsPort);
    const endpoints = list(at(one("ServiceMonitor").doc, "spec", "endpoints"), "endpoints");
    expect(endpoints.map((e) => at(e, "port"))).toEqual(["metrics"]);
    expect(endpoints.map((e) => at(e, "path"))).toEqual([metricsPath()]);
  });

  it("gives the kubelet longer than a drain: terminationGracePeriodSeconds > drain grace + close grace", () => {
    const drain = sidecarConfig().drainGraceMs / 1000;
    expect(drain).toBeGreaterThan(0);
    expect(Number(podSpec.terminationGracePeriodSeconds)).toBeGreaterThan(drain + closeGraceSeconds());
  });

  it("takes the shared secret, and the previous one during a rotation, from a Secret, never from a literal", () => {
    const env = list(container.env, "env");
    const current = named(env, "SANA_SIDECAR_SECRET", "env");
    const previous = named(env, "SANA_SIDECAR_PREVIOUS_SECRET", "env");
    for (const variable of [current, previous]) {
      expect(variable.value).toBeUndefined();
      expect(at(variable, "valueFrom", "secretKeyRef", "key")).toBeTypeOf("string");
    }
    expect(at(previous, "valueFrom", "secretKeyRef", "name")).toBe(
      at(current, "valueFrom", "secretKeyRef", "name"),
    );
    // Absent outside a rotation: the pod must start without it.
    expect(at(previous, "valueFrom", "secretKeyRef", "optional")).toBe(true);
    expect(at(current, "valueFrom", "secretKeyRef", "optional") ?? false).toBe(false);
  });

  it("loads every model from the read-only models volume, each with a revision for the cache keys", () => {
    const { models } = sidecarConfig();
    const mount = named(list(container.volumeMounts, "volumeMounts"), "models", "volume mount");
    expect(mount.readOnly).toBe(true);
    const volume = named(list(podSpec.volumes, "volumes"), "models", "volume");
    expect(at(volume, "persistentVolumeClaim", "readOnly")).toBe(true);
    const claim = text(at(volume, "persistentVolumeClaim", "claimName"), "claimName");
    expect(one("PersistentVolumeClaim").name).toBe(claim);
    expect(models.length).toBeGreaterThan(0);
    for (const model of models) {
      expect(model.dir.startsWith(`${text(mount.mountPath, "mountPath")}/`), model.dir).toBe(true);
      expect(model.id, model.dir).toBeDefined();
      expect(model.revision, `--revision for ${model.id}`).toBeDefined();
    }
  });

  it("runs as the images' non-root user with a read-only root filesystem and a writable /tmp", () => {
    const uids = DOCKERFILES.map((path) => runtimeUid(parseDockerfile(path)));
    expect(at(podSpec, "securityContext", "runAsNonRoot")).toBe(true);
    expect(uids.map(() => at(podSpec, "securityContext", "runAsUser"))).toEqual(uids);
    expect(at(container, "securityContext", "readOnlyRootFilesystem")).toBe(true);
    expect(at(container, "securityContext", "allowPrivilegeEscalation")).toBe(false);
    expect(at(container, "securityContext", "capabilities", "drop")).toEqual(["ALL"]);
    const tmp = list(container.volumeMounts, "volumeMounts").find((m) => at(m, "mountPath") === "/tmp");
    const tmpVolume = named(list(podSpec.volumes, "volumes"), text(at(tmp, "name"), "tmp mount"), "volume");
    expect(tmpVolume.emptyDir).toBeDefined();
  });

  it("turns service links off, whose variables (SANA_PORT for a Service named sana) could override its flags", () => {
    expect(podSpec.enableServiceLinks).toBe(false);
  });

  it("asks for one GPU on GPU nodes and at least the memory docs/PERF.md measured", () => {
    const resources = object(container.resources, "resources");
    expect(at(resources, "limits", "nvidia.com/gpu")).toBe(1);
    // Gemma-2-2B float32 ~10 GB + SANA 0.6B transformer peak 2.84 GB + DC-AE 4096² tiled peak 4.5 GB.
    const measuredPeak = 10e9 + 2.84e9 + 4.5e9;
    const request = bytes(at(resources, "requests", "memory"));
    expect(request).toBeGreaterThanOrEqual(measuredPeak);
    expect(bytes(at(resources, "limits", "memory"))).toBeGreaterThanOrEqual(request);
    expect(at(resources, "limits", "cpu"), "a CPU limit throttles the engine's threads").toBeUndefined();
    const tolerations = list(podSpec.tolerations, "tolerations");
    expect(tolerations.some((t) => at(t, "key") === "nvidia.com/gpu")).toBe(true);
    expect(Object.keys(object(podSpec.nodeSelector, "nodeSelector")).length).toBeGreaterThan(0);
  });

  it("selects its own pods in the Deployment, the Service and the PodDisruptionBudget", () => {
    const selector = object(at(deployment.doc, "spec", "selector", "matchLabels"), "Deployment selector");
    expect(labelsMatch(selector, podLabels)).toBe(true);
    expect(labelsMatch(object(at(service.doc, "spec", "selector"), "Service selector"), podLabels)).toBe(
      true,
    );
    const pdb = one("PodDisruptionBudget");
    const pdbSelector = object(at(pdb.doc, "spec", "selector", "matchLabels"), "PDB selector");
    expect(labelsMatch(pdbSelector, podLabels)).toBe(true);
    // minAvailable with one replica would block every node drain.
    expect(at(pdb.doc, "spec", "maxUnavailable")).toBeGreaterThanOrEqual(1);
  });
});

describe("the way in: Ingress", () => {
  const ingress = one("Ingress");

  it("publishes only the image service, over TLS for every host, to the Service's gRPC port", () => {
    const tlsHosts = list(at(ingress.doc, "spec", "tls"), "tls").flatMap((t) =>
      list(at(t, "hosts"), "hosts"),
    );
    const rules = list(at(ingress.doc, "spec", "rules"), "rules");
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(tlsHosts).toContain(at(rule, "host"));
      for (const path of list(at(rule, "http", "paths"), "paths")) {
        expect(at(path, "path")).toBe(`/${ImageService.typeName}`);
        expect(at(path, "backend", "service", "name")).toBe(service.name);
        const port = at(path, "backend", "service", "port");
        expect(servicePorts.some((p) => at(p, "name") === at(port, "name") && at(p, "name") === "grpc")).toBe(
          true,
        );
      }
    }
  });
});

describe("autoscaling and monitoring", () => {
  const series = exportedSeries();
  const serviceMonitor = one("ServiceMonitor");

  it("the ServiceMonitor selects the sidecar Service", () => {
    const selector = object(at(serviceMonitor.doc, "spec", "selector", "matchLabels"), "selector");
    expect(labelsMatch(selector, object(at(service.doc, "metadata", "labels"), "Service labels"))).toBe(true);
  });

  it("KEDA scales the Deployment on queue depth with a query over metrics the sidecar exports", () => {
    const scaled = one("ScaledObject");
    expect(at(scaled.doc, "spec", "scaleTargetRef", "name")).toBe(deployment.name);
    const triggers = list(at(scaled.doc, "spec", "triggers"), "triggers");
    const prometheus = triggers.filter((t) => at(t, "type") === "prometheus");
    expect(prometheus.length).toBeGreaterThan(0);
    for (const trigger of prometheus) {
      const query = text(at(trigger, "metadata", "query"), "query");
      const names = seriesIn(query);
      expect(names).toContain("sana_queue_depth");
      for (const name of names) expect(series, `${name} is not exported by the sidecar`).toContain(name);
      // Scraped by the ServiceMonitor: job = the Service's name, namespace = ours.
      expect(query).toContain(`job="${service.name}"`);
      expect(query).toContain(`namespace="${NAMESPACE}"`);
      expect(Number(text(at(trigger, "metadata", "threshold"), "threshold"))).toBeGreaterThan(0);
    }
    const min = Number(at(scaled.doc, "spec", "minReplicaCount"));
    expect(min).toBeGreaterThanOrEqual(1);
    expect(Number(at(scaled.doc, "spec", "maxReplicaCount"))).toBeGreaterThanOrEqual(min);
  });

  it("the HPA alternative scales the same Deployment on gauges the sidecar exports", () => {
    const hpa = one("HorizontalPodAutoscaler", "extras/hpa.yaml");
    expect(at(hpa.doc, "spec", "scaleTargetRef", "name")).toBe(deployment.name);
    const gauges = exportedMetrics()
      .filter((m) => m.type === "gauge")
      .map((m) => m.name);
    const metrics = list(at(hpa.doc, "spec", "metrics"), "metrics");
    expect(metrics.length).toBeGreaterThan(0);
    for (const metric of metrics) expect(gauges).toContain(at(metric, "pods", "metric", "name"));
  });
});
