import { type DenoiseRequest, loadDenoiser } from "../../../lib/denoise.js";
import { readConfig } from "../../../lib/index.js";
import { createSampler, type Sampler, type SamplerSpec, samplerBinding } from "../../../lib/sampler.js";
import { COMPLEX_HUMAN_INSTRUCTION, SanaTextEncoder } from "../../../lib/text-encoder.js";
import { loadVae, type VaeModel } from "../../../lib/vae.js";
import type { Float32Data } from "../case-tensors.js";
import type { ProducedTensor } from "../compare.js";
import {
  BackendError,
  type CaseContext,
  type ComponentHandler,
  type HandlerResult,
  modelCache,
} from "../handler.js";
import { booleanParam, hasParam, nullableNumberParam, numberParam, objectParam } from "../params.js";
import { batchCopies, type PipelinePlan, planPipeline } from "./pipeline-plan.js";
import { encodeBatchPrompts } from "./pipeline-prompts.js";

// Pipeline cases, end to end from the prompts and the recorded initial latents:
// encode_prompt (tokenizer + Gemma-2), the engine's denoising loop (src/pipeline/denoise.cpp,
// the code the sidecar runs: sampler, transformer, CFG/PAG/Sprint guidance), and the VAE
// decode to the output image.
// Every intermediate the case records (embeddings, masks, timesteps, raw predictions, latents
// per step, SCM's denoised) is compared, so a failure points at the stage that drifted.

const needsBinning = "use_resolution_binning: the resize and crop back to the request is not implemented";

function samplerFor(context: CaseContext, plan: PipelinePlan, timestepScale: number): Sampler {
  const { testCase, modelDir } = context;
  const spec: SamplerSpec = hasParam(testCase, "scheduler_config")
    ? { config: objectParam(testCase, "scheduler_config"), steps: plan.steps }
    : { modelPath: modelDir ?? "", steps: plan.steps };
  spec.timestepScale = plan.appliesTimestepScale ? timestepScale : 1;
  if (hasParam(testCase, "max_timesteps")) spec.maxTimesteps = numberParam(testCase, "max_timesteps");
  if (hasParam(testCase, "intermediate_timesteps")) {
    spec.intermediateTimesteps = nullableNumberParam(testCase, "intermediate_timesteps");
  }
  return createSampler(spec);
}

class StepRecorder {
  readonly data: Float32Array;
  constructor(
    readonly shape: number[],
    private readonly perStep: number,
  ) {
    this.data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  }
  set(step: number, values: Float32Array): void {
    this.data.set(values, step * this.perStep);
  }
  tensor(): ProducedTensor {
    return { shape: this.shape, data: this.data };
  }
}

interface TransformerScales {
  timestepScale: number;
  guidanceEmbedsScale: number;
}

function readTransformerConfig(modelDir: string): TransformerScales {
  const config = readConfig(modelDir, "transformer");
  const field = (key: string, fallback: number): number => {
    const value =
      typeof config === "object" && config !== null && !Array.isArray(config) ? config[key] : undefined;
    return typeof value === "number" ? value : fallback;
  };
  return {
    timestepScale: field("timestep_scale", 1),
    guidanceEmbedsScale: field("guidance_embeds_scale", 0.1),
  };
}

export function createPipelineHandler(): ComponentHandler {
  // The denoiser does not report its backend; the transformer it loads is checked by the
  // transformer cases.
  const denoiser = modelCache("denoiser", (dir, backend) => loadDenoiser(dir, { backend }));
  const vae = modelCache<VaeModel>(
    "VAE",
    (dir, backend) => loadVae(dir, { encoder: false, backend }),
    (m) => m.info().backend,
  );
  const textEncoder = modelCache(
    "text encoder",
    (dir, backend) => SanaTextEncoder.load(dir, { backend }),
    (m) => m.encoder.backend,
  );

  return {
    component: "pipeline",

    unsupportedCase(testCase) {
      if (!Object.hasOwn(testCase.inputs, "latents")) {
        return 'no "latents" input: only denoising runs are implemented (resolution binning is not)';
      }
      if (testCase.model === null) return "no model folder";
      const images = testCase.params.num_images_per_prompt;
      if (images !== undefined && images !== 1)
        return "num_images_per_prompt other than 1 is not implemented";
      return undefined;
    },

    async run(context: CaseContext): Promise<HandlerResult> {
      const { testCase, tensors, modelDir, manifest, backend = "cpu" } = context;
      if (modelDir === null) throw new Error(`${testCase.name}: no model folder`);
      const plan = planPipeline(testCase, manifest, COMPLEX_HUMAN_INSTRUCTION);
      const engine = await denoiser(modelDir, backend);
      const scales = readTransformerConfig(modelDir);
      const timestepScale = scales.timestepScale;
      if (!plan.appliesTimestepScale && plan.pipelineClass !== "SanaSprintPipeline" && timestepScale !== 1) {
        return {
          produced: {},
          unsupported: { "*": `${plan.pipelineClass} ignores timestep_scale; the engine always applies it` },
        };
      }
      // The sampler's schedule is reported on its own; the loop itself runs in the engine.
      const sampler = samplerFor(context, plan, timestepScale);

      const latents0: Float32Data = tensors.float32("latents");
      const [batch = 0, channels = 0, height = 0, width = 0] = latents0.shape;
      const copies = batchCopies(plan.layout);
      const modelBatch = batch * copies;
      const n = latents0.data.length;
      const steps = plan.steps;

      const result: HandlerResult = { produced: {}, unsupported: {} };
      const timesteps = sampler.timesteps();
      result.produced.scheduler_timesteps = { shape: [timesteps.length], data: timesteps };
      const sigmas = sampler.sigmas();
      if (sigmas.length > 0) result.produced.scheduler_sigmas = { shape: [sigmas.length], data: sigmas };
      if (plan.embeddedGuidance) {
        const guidance = samplerBinding().embeddedGuidance(plan.guidanceScale, scales.guidanceEmbedsScale);
        result.produced.transformer_guidance = {
          shape: [modelBatch],
          data: new Float32Array(modelBatch).fill(guidance),
        };
      }

      const prompts = await encodeBatchPrompts(await textEncoder(modelDir, backend), plan);
      if (prompts.shape[0] !== modelBatch) {
        throw new Error(`${testCase.name}: ${plan.prompts.length} prompts for ${batch} latents`);
      }
      result.produced.encoder_hidden_states = { shape: prompts.shape, data: prompts.caption };
      result.produced.encoder_attention_mask = { shape: prompts.shape.slice(0, 2), data: prompts.mask };

      const cfg = plan.layout === "cfg" || plan.layout === "cfg_pag";
      const request: DenoiseRequest = {
        batch,
        height,
        width,
        steps,
        guidanceScale: cfg || plan.embeddedGuidance ? plan.guidanceScale : 1,
        prompt: prompts.positive,
        latents: latents0.data,
        captureModelOutput: true,
        ...(cfg && prompts.negative !== undefined ? { negative: prompts.negative } : {}),
        ...(sampler.needsNoise ? { stepNoise: tensors.float32("scm_noise").data } : {}),
        ...(plan.pagLayers.length === 0
          ? {}
          : { pagScale: plan.pagScale, pagLayers: plan.pagLayers, pagAdaptiveScale: plan.pagAdaptiveScale }),
        ...(hasParam(testCase, "scheduler_config")
          ? { schedulerConfig: objectParam(testCase, "scheduler_config") }
          : {}),
        ...(hasParam(testCase, "max_timesteps")
          ? { maxTimesteps: numberParam(testCase, "max_timesteps") }
          : {}),
        ...(hasParam(testCase, "intermediate_timesteps")
          ? { intermediateTimesteps: nullableNumberParam(testCase, "intermediate_timesteps") }
          : {}),
      };
      const stepLatents = new StepRecorder([steps, ...latents0.shape], n);
      const denoised = new StepRecorder([steps, ...latents0.shape], n);
      const noisePredRaw = new StepRecorder([steps, modelBatch, channels, height, width], n * copies);
      const timestepRows = new StepRecorder([steps, modelBatch], modelBatch);
      const run = await engine.run(request, (s) => {
        stepLatents.set(s.step, s.latents);
        denoised.set(s.step, s.denoised);
        if (s.modelOutput !== undefined) noisePredRaw.set(s.step, s.modelOutput);
        timestepRows.set(s.step, new Float32Array(modelBatch).fill(s.timestep));
      });
      if (run.stepsCompleted !== steps)
        throw new Error(`${testCase.name}: the engine ran ${run.stepsCompleted} of ${steps} steps`);
      result.produced.step_latents = stepLatents.tensor();
      result.produced.noise_pred_raw = noisePredRaw.tensor();
      result.produced.denoised = denoised.tensor();
      result.produced.transformer_timesteps = timestepRows.tensor();

      if (hasParam(testCase, "use_resolution_binning") && booleanParam(testCase, "use_resolution_binning")) {
        result.unsupported.image = needsBinning;
      } else {
        // output_type "np": decode(latents / scaling_factor), clamp(x / 2 + 0.5, 0, 1), NHWC.
        // A VAE that cannot load (or not on this backend) fails the image alone: the
        // denoising outputs above are still judged.
        const decoder = await vae(modelDir, backend).catch((error: unknown) => {
          if (error instanceof BackendError) throw error;
          result.failed = { image: error instanceof Error ? error.message : String(error) };
          return undefined;
        });
        if (decoder !== undefined) {
          result.produced.image = await decoder.decodeToImage(run.latents, latents0.shape, {
            scaled: true,
            tiled: false,
          });
        }
      }
      return result;
    },
  };
}
