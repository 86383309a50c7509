import { openModelFolder, readConfig } from "@sana-edge/native";
import type { ModelInfo } from "@sana-edge/proto";
import { describeModel, ModelConfigError } from "./models.js";
import type { PythonJsonObject } from "./python-json.js";
import { TextToImage } from "./text-to-image.js";

// A model folder from the sidecar's configuration, loaded and described: what ListModels
// reports and the engine that runs its jobs.

export interface ModelSource {
  /** A diffusers pipeline folder. */
  readonly dir: string;
  /** Public id; defaults to the folder's name. */
  readonly id?: string;
  /** Weights revision (a snapshot commit or content hash); part of the edge's cache keys. */
  readonly revision?: string;
  /** The engine backend: "cpu" (default) or "cuda". */
  readonly backend?: string;
}

export interface ServedModel {
  readonly info: ModelInfo;
  readonly engine: TextToImage;
}

function configObject(root: string, component: string): PythonJsonObject {
  const value = readConfig(root, component);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ModelConfigError(`${root}/${component}: the config is not a JSON object`);
  }
  return value;
}

export async function loadServedModel(source: ModelSource): Promise<ServedModel> {
  const folder = openModelFolder(source.dir);
  const info = describeModel(
    folder,
    {
      transformer: configObject(source.dir, "transformer"),
      scheduler: configObject(source.dir, "scheduler"),
    },
    {
      ...(source.id === undefined ? {} : { id: source.id }),
      ...(source.revision === undefined ? {} : { revision: source.revision }),
    },
  );
  const engine = await TextToImage.load(
    source.dir,
    source.backend === undefined ? {} : { backend: source.backend },
  );
  // The preview projection is fitted on first use; do it now so no job pays for it.
  await engine.warmPreview();
  return { info, engine };
}
