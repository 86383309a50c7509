import type { Manifest, ManifestCase } from "../manifest.js";
import {
  booleanParam,
  hasParam,
  integerParam,
  numberParam,
  stringListParam,
  stringParam,
} from "../params.js";

// What a pipeline case asks for, read from its params the way the reference pipelines read
// their arguments: which sampler, the batch layout of each transformer call, guidance.

export type BatchLayout =
  /** transformer batch = latents */
  | "single"
  /** cat([uncond, cond]): classifier-free guidance */
  | "cfg"
  /** cat([uncond, cond, perturbed]): CFG + perturbed-attention guidance */
  | "cfg_pag"
  /** cat([cond, perturbed]): PAG alone */
  | "pag";

export interface PipelinePlan {
  pipelineClass: string;
  steps: number;
  layout: BatchLayout;
  guidanceScale: number;
  /** Sana-Sprint: the transformer's guidance embedding input is guidance_scale * embeds scale. */
  embeddedGuidance: boolean;
  /** SanaPipeline multiplies the timestep by transformer.config.timestep_scale; the PAG and Sprint pipelines do not. */
  appliesTimestepScale: boolean;
  pagScale: number;
  pagAdaptiveScale: number;
  /** Transformer block indices whose self-attention PAG perturbs. */
  pagLayers: number[];
  prompts: string[];
  /** Encoded without the instruction, as the pipelines do ("" when the case gives none). */
  negativePrompt: string;
  maxSequenceLength: number;
  /** Instruction lines prepended to each prompt, or null for none. */
  complexHumanInstruction: string[] | null;
  numImagesPerPrompt: number;
}

export const sanaPipelines = new Set([
  "SanaPipeline",
  "SanaPipeline+FlowMatchEuler",
  "SanaPAGPipeline",
  "SanaSprintPipeline",
]);

function pagLayerIndex(testCase: ManifestCase, name: string): number {
  // diffusers matches these against module names; the Sana transformer's blocks are
  // "transformer_blocks.<i>".
  const match = /^(?:transformer_blocks\.)?(\d+)$/.exec(name);
  if (match === null) {
    throw new Error(
      `${testCase.name}: pag_applied_layers entry "${name}" is not a transformer block ("transformer_blocks.<i>")`,
    );
  }
  return Number(match[1]);
}

function promptList(testCase: ManifestCase): string[] {
  const value = testCase.params.prompt;
  return typeof value === "string" ? [value] : stringListParam(testCase, "prompt");
}

// complex_human_instruction: a list of lines, null/false for none, or (as the fixture set
// writes it) a note that the pipeline default was used, which the manifest lists at its top.
function instruction(
  testCase: ManifestCase,
  manifest: Manifest,
  fallback: readonly string[],
): string[] | null {
  const value = testCase.params.complex_human_instruction;
  if (value === undefined || typeof value === "string")
    return [...(manifest.complexHumanInstruction ?? fallback)];
  if (value === null || value === false) return null;
  return stringListParam(testCase, "complex_human_instruction");
}

export function planPipeline(
  testCase: ManifestCase,
  manifest: Manifest,
  defaultInstruction: readonly string[],
): PipelinePlan {
  const pipelineClass = stringParam(testCase, "pipeline_class");
  if (!sanaPipelines.has(pipelineClass))
    throw new Error(`${testCase.name}: pipeline_class "${pipelineClass}" is not supported`);
  const sprint = pipelineClass === "SanaSprintPipeline";
  const pag = pipelineClass === "SanaPAGPipeline";
  const guidanceScale = numberParam(testCase, "guidance_scale");
  // Sprint embeds the guidance instead of running CFG; the others guide when scale > 1.
  const cfg = sprint
    ? false
    : hasParam(testCase, "do_classifier_free_guidance")
      ? booleanParam(testCase, "do_classifier_free_guidance")
      : guidanceScale > 1;
  const pagScale = pag ? numberParam(testCase, "pag_scale") : 0;
  const doPag = pag && pagScale > 0;
  const layout: BatchLayout = doPag ? (cfg ? "cfg_pag" : "pag") : cfg ? "cfg" : "single";
  return {
    pipelineClass,
    steps: numberParam(testCase, "num_inference_steps"),
    layout,
    guidanceScale,
    embeddedGuidance: sprint,
    appliesTimestepScale: !sprint && !pag,
    pagScale,
    pagAdaptiveScale:
      doPag && hasParam(testCase, "pag_adaptive_scale") ? numberParam(testCase, "pag_adaptive_scale") : 0,
    pagLayers: doPag
      ? stringListParam(testCase, "pag_applied_layers").map((n) => pagLayerIndex(testCase, n))
      : [],
    prompts: promptList(testCase),
    negativePrompt:
      typeof testCase.params.negative_prompt === "string" ? testCase.params.negative_prompt : "",
    maxSequenceLength: hasParam(testCase, "max_sequence_length")
      ? integerParam(testCase, "max_sequence_length")
      : 300,
    complexHumanInstruction: instruction(testCase, manifest, defaultInstruction),
    numImagesPerPrompt: hasParam(testCase, "num_images_per_prompt")
      ? integerParam(testCase, "num_images_per_prompt")
      : 1,
  };
}

/** Which prompt set fills each copy of the transformer batch. */
export function textLayout(layout: BatchLayout): ("negative" | "positive")[] {
  switch (layout) {
    case "single":
      return ["positive"];
    case "cfg":
      return ["negative", "positive"];
    case "cfg_pag":
      return ["negative", "positive", "positive"];
    case "pag":
      return ["positive", "positive"];
  }
}

/** How many copies of the latents one transformer call takes. */
export function batchCopies(layout: BatchLayout): number {
  return layout === "single" ? 1 : layout === "cfg_pag" ? 3 : 2;
}

/** Per transformer batch item: does it take PAG's perturbed path? */
export function perturbedItems(layout: BatchLayout, batch: number): boolean[] {
  const copies = batchCopies(layout);
  const perturbedCopy = layout === "cfg_pag" ? 2 : layout === "pag" ? 1 : -1;
  return Array.from({ length: copies * batch }, (_, i) => Math.floor(i / batch) === perturbedCopy);
}
