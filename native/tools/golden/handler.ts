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
}

export interface HandlerResult {
  produced: Record<string, ProducedTensor>;
  unsupported: Record<string, string>;
}

export interface ComponentHandler {
  /** The manifest `component` value this handler runs. */
  readonly component: string;
  /** Why the engine cannot run this case at all (nothing is read then), or undefined. */
  unsupportedCase?(testCase: ManifestCase): string | undefined;
  run(context: CaseContext): Promise<HandlerResult>;
}
