import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Service } from "kubernetes-models/v1/Service";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

// The Kubernetes manifests under infra/k8s as the API server would read them, and the two checks the
// models in kubernetes-models give us: their JSON schemas (types, formats, required fields) and, through their
// TypeScript interfaces, unknown fields (what `kubeconform -strict` or `kubectl --validate=strict` reject).

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const K8S_DIR = join(REPO_ROOT, "infra/k8s");

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Manifest {
  /** Relative to infra/k8s, e.g. "deployment.yaml" or "extras/hpa.yaml". */
  readonly file: string;
  /** Position in its file (several documents may share one). */
  readonly index: number;
  readonly doc: JsonObject;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
}

interface KindSupport {
  /** Validates against the kind's JSON schema; throws with the failing paths. */
  readonly validate: (doc: JsonObject) => void;
  /** The module and interface the strict (unknown field) check types the document with. */
  readonly module: string;
  readonly type: string;
}

function kind<T>(Model: new (data: T) => { validate(): void }, module: string, type: string): KindSupport {
  return { validate: (doc) => new Model(doc as T).validate(), module, type };
}

/** Every kind infra/k8s may contain. A new kind must be added here, with the package that knows its schema. */
export const KINDS: Readonly<Record<string, KindSupport>> = {
  "v1/Namespace": kind(Namespace, "kubernetes-models/v1/Namespace", "INamespace"),
  "v1/PersistentVolumeClaim": kind(
    PersistentVolumeClaim,
    "kubernetes-models/v1/PersistentVolumeClaim",
    "IPersistentVolumeClaim",
  ),
  "v1/Service": kind(Service, "kubernetes-models/v1/Service", "IService"),
  "apps/v1/Deployment": kind(Deployment, "kubernetes-models/apps/v1/Deployment", "IDeployment"),
  "policy/v1/PodDisruptionBudget": kind(
    PodDisruptionBudget,
    "kubernetes-models/policy/v1/PodDisruptionBudget",
    "IPodDisruptionBudget",
  ),
  "networking.k8s.io/v1/Ingress": kind(Ingress, "kubernetes-models/networking.k8s.io/v1/Ingress", "IIngress"),
  "autoscaling/v2/HorizontalPodAutoscaler": kind(
    HorizontalPodAutoscaler,
    "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
    "IHorizontalPodAutoscaler",
  ),
  "keda.sh/v1alpha1/ScaledObject": kind(
    ScaledObject,
    "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject",
    "IScaledObject",
  ),
  "monitoring.coreos.com/v1/ServiceMonitor": kind(
    ServiceMonitor,
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
    "IServiceMonitor",
  ),
};

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The YAML files under `dir`, recursively, relative to it. */
export function yamlFiles(dir = K8S_DIR): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((path) => /\.ya?ml$/.test(path))
    .sort();
}

/**
 * Parses one YAML file into its documents, failing on any YAML error or warning. YAML 1.1, as Kubernetes
 * parses it (sigs.k8s.io/yaml): an unquoted `on` or `yes` is a boolean there, and must be here too.
 */
export function parseYamlFile(path: string): JsonObject[] {
  const docs = parseAllDocuments(readFileSync(path, "utf8"), { version: "1.1", uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  return docs.map((doc, index) => {
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
    if (problems.length > 0) throw new Error(`${path} document ${index}: ${problems.join("; ")}`);
    const value = doc.toJS({ maxAliasCount: 0 }) as Json;
    if (!isObject(value)) throw new Error(`${path} document ${index} is not a mapping`);
    return value;
  });
}

/** Every Kubernetes document under infra/k8s except the kustomization itself. */
export function loadManifests(): Manifest[] {
  return yamlFiles()
    .filter((file) => !/(^|\/)kustomization\.ya?ml$/.test(file))
    .flatMap((file) =>
      parseYamlFile(join(K8S_DIR, file)).map((doc, index): Manifest => {
        const metadata = doc.metadata;
        return {
          file,
          index,
          doc,
          apiVersion: String(doc.apiVersion),
          kind: String(doc.kind),
          name: isObject(metadata) ? String(metadata.name) : "",
        };
      }),
    );
}

/**
 * Types every manifest as its kind's interface in one in-memory TypeScript program, so a field the kind does
 * not have is an excess-property error. Returns the messages, each prefixed with the manifest it is about.
 */
export function unknownFieldErrors(manifests: readonly Manifest[]): string[] {
  const file = join(REPO_ROOT, "infra/test/__manifests_typed__.ts");
  const imports: string[] = [];
  const declarations: string[] = [];
  const typed: Manifest[] = [];
  manifests.forEach((manifest, i) => {
    const support = KINDS[`${manifest.apiVersion}/${manifest.kind}`];
    if (support === undefined) return;
    typed.push(manifest);
    imports.push(`import type { ${support.type} as T${i} } from "${support.module}";`);
    declarations.push(`export const m${i}: T${i} = ${JSON.stringify(manifest.doc)};`);
  });
  const text = `${imports.join("\n")}\n${declarations.join("\n")}\n`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts"],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, text, language)
      : getSourceFile.call(host, name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? text : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file);
  return ts.getPreEmitDiagnostics(program, source).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    const line =
      diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
        : -1;
    // Lines 0..imports-1 are the imports; each typed manifest has one declaration line after them.
    const manifest = typed[line - imports.length];
    const where = manifest ? `${manifest.file}#${manifest.index} ${manifest.kind}/${manifest.name}` : "?";
    return `${where}: ${message}`;
  });
}
