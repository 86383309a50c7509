import type { CaseTensors } from "./case-tensors.js";
import type { ProducedTensor } from "./compare.js";
import type { Manifest, ManifestCase } from "./manifest.js";

// A handler runs the cases of one manifest component through the engine. It returns what it
// computed per output name; outputs it cannot compute yet (a part of the engine not built)
// are listed with the reason and reported as unsupported, not failed.

export interface CaseContext {
  setDir: string;
  manifest: Manifest;
  testCase: ManifestCase;
  tensors: CaseTensors;
  /** The case's model folder (absolute), or null for model-free cases. */
  modelDir: string | null;
  /** The engine backend every model of the run loads on: "cpu" (when absent), "cuda". */
  backend?: string;
}

export interface HandlerResult {
  produced: Record<string, ProducedTensor>;
  unsupported: Record<string, string>;
  /** Outputs that could not be computed although the engine supports them, with the reason. */
  failed?: Record<string, string>;
}

export interface ComponentHandler {
  /** The manifest `component` value this handler runs. */
  readonly component: string;
  /** Why the engine cannot run this case at all (nothing is read then), or undefined. */
  unsupportedCase?(testCase: ManifestCase): string | undefined;
  /**
   * Whether this case runs a model on the run's backend (default true). Model-free cases
   * (schedulers, tokenizers, resolution binning) are judged at float32 whatever the backend.
   */
  runsModel?(testCase: ManifestCase): boolean;
  run(context: CaseContext): Promise<HandlerResult>;
}

/**
 * The engine cannot run the requested backend at all (an unknown name, a backend this build
 * was compiled without, no device): every model load would fail the same way, so the run
 * stops instead of failing each case.
 */
export class BackendError extends Error {
  override name = "BackendError";
  constructor(
    readonly backend: string,
    message: string,
  ) {
    super(message);
  }
}

// What the engine says when a backend cannot be made (src/backend/registry.cpp,
// src/backend/cuda/): `unknown backend "tpu" (available: cpu)`, `backend "cuda" is not in
// this build (...)`, `no CUDA device available: ...`, a bad SANA_CUDA_GEMM / SANA_CUDA_DEVICE.
function isBackendFailure(backend: string, message: string): boolean {
  return (
    message.includes(`backend "${backend}"`) ||
    (backend === "cuda" && /no CUDA device available|SANA_CUDA_(GEMM|DEVICE)/.test(message))
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One load per (backend, model folder) per run: several cases share a model. A load the
 * engine refuses because of the backend rejects with a BackendError; a model that reports
 * (through `backendOf`) running on another backend than asked fails the case, since its
 * loader did not honour the option.
 */
export function modelCache<T>(
  what: string,
  load: (dir: string, backend: string) => Promise<T>,
  backendOf: (model: T) => string | undefined = () => undefined,
): (dir: string, backend: string) => Promise<T> {
  const loaded = new Map<string, Promise<T>>();
  return (dir, backend) => {
    const key = `${backend}\0${dir}`;
    let model = loaded.get(key);
    if (model === undefined) {
      model = load(dir, backend).then(
        (m) => {
          const actual = backendOf(m);
          if (actual !== undefined && actual !== backend) {
            throw new Error(
              `the ${what} loaded on backend "${actual}", not "${backend}" (its loader ignored the backend option)`,
            );
          }
          return m;
        },
        (error: unknown) => {
          const message = messageOf(error);
          if (isBackendFailure(backend, message)) {
            throw new BackendError(backend, message);
          }
          throw error;
        },
      );
      loaded.set(key, model);
    }
    return model;
  };
}
