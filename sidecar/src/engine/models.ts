// Turns a diffusers model folder (as the native ModelFolder describes it) and its
// transformer and scheduler configs into the ModelInfo the sidecar advertises
// through ListModels and GetLoad. Pure: reading the files is the caller's job.
import { create } from "@bufbuild/protobuf";
import { ImageFormat, type ModelInfo, ModelInfoSchema, Sampler } from "@sana-edge/proto";
import type { PythonJsonObject } from "./python-json.js";

/** One entry of model_index.json: a sub-folder and the class that loads it. */
export interface ModelComponent {
  readonly name: string;
  readonly className: string;
}

/** A diffusers pipeline folder, as native ModelFolder reports it. */
export interface ModelFolderDescription {
  readonly root: string;
  readonly pipelineClass: string;
  readonly components: readonly ModelComponent[];
}

/** The parsed config files that decide a model's capabilities. */
export interface ModelConfigs {
  /** transformer/config.json */
  readonly transformer: PythonJsonObject;
  /** scheduler/scheduler_config.json */
  readonly scheduler: PythonJsonObject;
}

export interface DescribeModelOptions {
  /** Public model id; defaults to the folder's base name. */
  readonly id?: string;
  /** Weights revision (snapshot commit or content hash); defaults to "" (unknown). */
  readonly revision?: string;
  /** Encodings this host produces; defaults to PNG, JPEG and WebP. */
  readonly outputFormats?: readonly ImageFormat[];
}

/** A model folder the engine cannot serve, with the file and field at fault. */
export class ModelConfigError extends Error {
  override readonly name = "ModelConfigError";
}

/** DC-AE f32c32 maps one latent pixel to 32x32 image pixels. */
const VAE_SCALE_FACTOR = 32;
/** SANA's reference pipelines: 20 Flow-DPM-Solver steps at guidance 4.5. */
const FLOW_DEFAULT_STEPS = 20;
/** SANA-Sprint is distilled for 1-4 steps; 2 is its reference default. */
const SPRINT_DEFAULT_STEPS = 2;
const SPRINT_MAX_STEPS = 4;
/**
 * Admission bound for the flow samplers: quality stops improving long before
 * this, while a request's GPU time keeps growing with every step.
 */
const FLOW_MAX_STEPS = 100;
const DEFAULT_GUIDANCE_SCALE = 4.5;
const DEFAULT_OUTPUT_FORMATS = [ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP] as const;

const SPRINT_PIPELINE = "SanaSprintPipeline";
const CFG_PIPELINES = new Set(["SanaPipeline", "SanaPAGPipeline"]);
const REQUIRED_COMPONENTS: ReadonlyArray<readonly [name: string, className: string | undefined]> = [
  ["transformer", "SanaTransformer2DModel"],
  ["vae", "AutoencoderDC"],
  ["text_encoder", undefined],
  ["tokenizer", undefined],
  ["scheduler", undefined],
];

interface SamplerSupport {
  readonly samplers: readonly Sampler[];
  readonly defaultSampler: Sampler;
}

/** Describes the model in `folder` for ListModels / GetLoad. Throws ModelConfigError. */
export function describeModel(
  folder: ModelFolderDescription,
  configs: ModelConfigs,
  options: DescribeModelOptions = {},
): ModelInfo {
  const isSprint = folder.pipelineClass === SPRINT_PIPELINE;
  if (!isSprint && !CFG_PIPELINES.has(folder.pipelineClass)) {
    throw new ModelConfigError(
      `${folder.root}/model_index.json: pipeline class ${folder.pipelineClass} is not supported; expected one of ${[...CFG_PIPELINES, SPRINT_PIPELINE].join(", ")}`,
    );
  }
  checkComponents(folder);

  const transformerFile = `${folder.root}/transformer/config.json`;
  const sampleSize = positiveInteger(configs.transformer, "sample_size", transformerFile);
  const guidanceEmbeds = optionalBoolean(configs.transformer, "guidance_embeds", transformerFile);
  if (guidanceEmbeds !== isSprint) {
    throw new ModelConfigError(
      `${transformerFile}: guidance_embeds is ${guidanceEmbeds} but the pipeline is ${folder.pipelineClass}; expected ${isSprint}`,
    );
  }
  const { samplers, defaultSampler } = samplerSupport(folder, configs.scheduler, isSprint);
  const nativeResolution = sampleSize * VAE_SCALE_FACTOR;

  return create(ModelInfoSchema, {
    id: options.id ?? baseName(folder.root),
    revision: options.revision ?? "",
    pipelineClass: folder.pipelineClass,
    capabilities: {
      nativeResolution,
      maxWidth: nativeResolution,
      maxHeight: nativeResolution,
      resolutionMultiple: VAE_SCALE_FACTOR,
      samplers: [...samplers],
      defaultSampler,
      defaultSteps: isSprint ? SPRINT_DEFAULT_STEPS : FLOW_DEFAULT_STEPS,
      maxSteps: isSprint ? SPRINT_MAX_STEPS : FLOW_MAX_STEPS,
      defaultGuidanceScale: DEFAULT_GUIDANCE_SCALE,
      supportsGuidanceEmbedding: guidanceEmbeds,
      // Sprint's guidance is an embedding, not a second (negative) pass, and PAG
      // perturbs that second pass, so both need a classifier-free-guidance model.
      supportsNegativePrompt: !guidanceEmbeds,
      supportsPag: !guidanceEmbeds,
      outputFormats: [...(options.outputFormats ?? DEFAULT_OUTPUT_FORMATS)],
    },
  });
}

function checkComponents(folder: ModelFolderDescription): void {
  for (const [name, expectedClass] of REQUIRED_COMPONENTS) {
    const component = folder.components.find((c) => c.name === name);
    if (component === undefined) {
      throw new ModelConfigError(`${folder.root}/model_index.json: component "${name}" is missing`);
    }
    if (expectedClass !== undefined && component.className !== expectedClass) {
      throw new ModelConfigError(
        `${folder.root}/model_index.json: component "${name}" is ${component.className}; expected ${expectedClass}`,
      );
    }
  }
}

function samplerSupport(
  folder: ModelFolderDescription,
  scheduler: PythonJsonObject,
  isSprint: boolean,
): SamplerSupport {
  const file = `${folder.root}/scheduler/scheduler_config.json`;
  const schedulerClass = scheduler._class_name;
  const declared = folder.components.find((c) => c.name === "scheduler")?.className;
  if (schedulerClass !== declared) {
    throw new ModelConfigError(
      `${file}: _class_name is ${String(schedulerClass)} but model_index.json declares ${String(declared)}`,
    );
  }
  if (isSprint) {
    if (schedulerClass !== "SCMScheduler") {
      throw new ModelConfigError(`${file}: ${SPRINT_PIPELINE} needs SCMScheduler, found ${schedulerClass}`);
    }
    return { samplers: [Sampler.SCM], defaultSampler: Sampler.SCM };
  }
  switch (schedulerClass) {
    // Both flow samplers run on any flow-matching SANA checkpoint; the folder's
    // scheduler only decides which one is the default.
    case "DPMSolverMultistepScheduler":
      if (scheduler.use_flow_sigmas !== true || scheduler.prediction_type !== "flow_prediction") {
        throw new ModelConfigError(
          `${file}: DPMSolverMultistepScheduler must have use_flow_sigmas true and prediction_type "flow_prediction" (SANA's Flow-DPM-Solver)`,
        );
      }
      return {
        samplers: [Sampler.FLOW_DPM_SOLVER, Sampler.FLOW_EULER],
        defaultSampler: Sampler.FLOW_DPM_SOLVER,
      };
    case "FlowMatchEulerDiscreteScheduler":
      return { samplers: [Sampler.FLOW_EULER, Sampler.FLOW_DPM_SOLVER], defaultSampler: Sampler.FLOW_EULER };
    default:
      throw new ModelConfigError(
        `${file}: scheduler ${String(schedulerClass)} is not supported with ${folder.pipelineClass}; expected DPMSolverMultistepScheduler or FlowMatchEulerDiscreteScheduler`,
      );
  }
}

function positiveInteger(config: PythonJsonObject, key: string, file: string): number {
  const value = config[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ModelConfigError(`${file}: ${key} is ${JSON.stringify(value)}; expected a positive integer`);
  }
  return value;
}

function optionalBoolean(config: PythonJsonObject, key: string, file: string): boolean {
  const value = config[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") {
    throw new ModelConfigError(`${file}: ${key} is ${JSON.stringify(value)}; expected true or false`);
  }
  return value;
}

function baseName(root: string): string {
  const trimmed = root.replace(/[/\\]+$/, "");
  return trimmed.slice(Math.max(trimmed.lastIndexOf("/"), trimmed.lastIndexOf("\\")) + 1);
}
