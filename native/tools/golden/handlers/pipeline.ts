import { type DitTextContext, loadTransformer, type Transformer } from "../../../lib/dit.js";
import { createSampler, type Sampler, type SamplerSpec, samplerBinding } from "../../../lib/sampler.js";
import type { Float32Data } from "../case-tensors.js";
import type { ProducedTensor } from "../compare.js";
import type { CaseContext, ComponentHandler, HandlerResult } from "../handler.js";
import { hasParam, nullableNumberParam, numberParam, objectParam } from "../params.js";
import { batchCopies, type PipelinePlan, perturbedItems, planPipeline } from "./pipeline-plan.js";

// Pipeline cases: the denoising loop of SanaPipeline / SanaPAGPipeline / SanaSprintPipeline
// from the recorded initial latents. The schedule outputs need only the sampler; the
// transformer outputs need prompt embeddings, which the text encoder would produce: they run
// when the case records them (encoder_hidden_states + encoder_attention_mask, the exact
// transformer inputs) and are unsupported otherwise. The image needs the VAE decoder.

const needsTextEncoder = "needs the text encoder: the case records no encoder_hidden_states to condition on";
const textEncoderOutput = "text encoder output (the runner reads it from the case as the transformer input)";
const needsVae = "needs the VAE decoder (not built yet)";

function repeatBatch(latents: Float32Array, copies: number): Float32Array {
  const out = new Float32Array(latents.length * copies);
  for (let c = 0; c < copies; c += 1) out.set(latents, c * latents.length);
  return out;
}

function scaled(values: Float32Array, factor: number): Float32Array {
  // float32 * float32 is exact in float64, so storing rounds once, as torch does.
  return values.map((v) => v * factor);
}

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

/** Guided prediction per image from one transformer call's output. */
function guide(plan: PipelinePlan, raw: Float32Array, timestep: number): Float32Array {
  const guidance = samplerBinding();
  const pagScale =
    plan.pagAdaptiveScale > 0
      ? Math.max(0, plan.pagScale - plan.pagAdaptiveScale * (1000 - timestep))
      : plan.pagScale;
  switch (plan.layout) {
    case "single":
      return raw;
    case "cfg":
      return guidance.cfgCombine(raw, plan.guidanceScale);
    case "cfg_pag":
      return guidance.cfgPagCombine(raw, plan.guidanceScale, pagScale);
    case "pag":
      return guidance.pagCombine(raw, pagScale);
  }
}

interface Conditioning {
  transformer: Transformer;
  text: DitTextContext;
}

async function conditioning(
  context: CaseContext,
  transformer: Transformer,
  modelBatch: number,
): Promise<Conditioning | undefined> {
  const { tensors, testCase } = context;
  if (!tensors.has("encoder_hidden_states") || !tensors.has("encoder_attention_mask")) return undefined;
  const caption = tensors.float32("encoder_hidden_states");
  const mask = tensors.int64("encoder_attention_mask");
  if (caption.shape[0] !== modelBatch) {
    throw new Error(
      `${testCase.name}: encoder_hidden_states has batch ${caption.shape[0]}, the transformer batch is ${modelBatch}`,
    );
  }
  const text = await transformer.encodeText({
    encoderHiddenStates: caption.data,
    encoderShape: caption.shape,
    encoderMask: mask.data,
  });
  return { transformer, text };
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

export function createPipelineHandler(): ComponentHandler {
  const models = new Map<string, Promise<Transformer>>();
  const model = (dir: string): Promise<Transformer> => {
    let loaded = models.get(dir);
    if (loaded === undefined) {
      loaded = loadTransformer(dir);
      models.set(dir, loaded);
    }
    return loaded;
  };

  return {
    component: "pipeline",

    unsupportedCase(testCase) {
      if (!Object.hasOwn(testCase.inputs, "latents")) {
        return 'no "latents" input: only denoising runs are implemented (resolution binning is not)';
      }
      if (testCase.model === null) return "no model folder";
      return undefined;
    },

    async run(context: CaseContext): Promise<HandlerResult> {
      const { testCase, tensors, modelDir } = context;
      if (modelDir === null) throw new Error(`${testCase.name}: no model folder`);
      const plan = planPipeline(testCase);
      const transformer = await model(modelDir);
      const sampler = samplerFor(context, plan, transformer.config.timestepScale);

      const latents0: Float32Data = tensors.float32("latents");
      const [batch = 0, ...latentDims] = latents0.shape;
      const copies = batchCopies(plan.layout);
      const modelBatch = batch * copies;
      const n = latents0.data.length;
      const steps = plan.steps;
      const timestepRows = new StepRecorder([steps, modelBatch], modelBatch);
      const guidance = plan.embeddedGuidance
        ? samplerBinding().embeddedGuidance(plan.guidanceScale, transformer.config.guidanceEmbedsScale)
        : undefined;

      const result: HandlerResult = { produced: {}, unsupported: {} };
      const timesteps = sampler.timesteps();
      result.produced.scheduler_timesteps = { shape: [timesteps.length], data: timesteps };
      const sigmas = sampler.sigmas();
      if (sigmas.length > 0) result.produced.scheduler_sigmas = { shape: [sigmas.length], data: sigmas };
      for (let i = 0; i < steps; i += 1) {
        timestepRows.set(i, new Float32Array(modelBatch).fill(sampler.transformerTimestep(i)));
      }
      result.produced.transformer_timesteps = timestepRows.tensor();
      if (guidance !== undefined) {
        result.produced.transformer_guidance = {
          shape: [modelBatch],
          data: new Float32Array(modelBatch).fill(guidance),
        };
      }
      result.unsupported.encoder_hidden_states = textEncoderOutput;
      result.unsupported.encoder_attention_mask = textEncoderOutput;
      result.unsupported.image = needsVae;

      const conditioned = await conditioning(context, transformer, modelBatch);
      if (conditioned === undefined) {
        for (const name of ["step_latents", "noise_pred_raw", "denoised"])
          result.unsupported[name] = needsTextEncoder;
        return result;
      }

      const noise = sampler.needsNoise ? tensors.float32("scm_noise") : undefined;
      const stepLatents = new StepRecorder([steps, ...latents0.shape], n);
      const denoised = new StepRecorder([steps, ...latents0.shape], n);
      const noisePredRaw = new StepRecorder([steps, modelBatch, ...latentDims], n * copies);
      const perturbed = perturbedItems(plan.layout, batch);
      let latents = scaled(latents0.data, sampler.initialLatentScale);
      for (let i = 0; i < steps; i += 1) {
        const modelInput = sampler.modelInput(i, latents);
        const t = sampler.transformerTimestep(i);
        const { sample } = await conditioned.transformer.forward({
          hiddenStates: repeatBatch(modelInput, copies),
          shape: [modelBatch, ...latentDims],
          timestep: [t],
          text: conditioned.text,
          ...(guidance === undefined ? {} : { guidance: [guidance] }),
          ...(plan.pagLayers.length === 0 ? {} : { pagLayers: plan.pagLayers, perturbed }),
        });
        noisePredRaw.set(i, sample.data);
        const guided = guide(plan, sample.data, Number(timesteps[i]));
        const velocity = sampler.modelOutputToStepInput(i, modelInput, guided);
        latents =
          noise === undefined
            ? sampler.step(velocity, latents)
            : sampler.step(velocity, latents, noise.data.subarray(i * n, (i + 1) * n));
        stepLatents.set(i, latents);
        denoised.set(i, sampler.denoised());
      }
      result.produced.step_latents = stepLatents.tensor();
      result.produced.noise_pred_raw = noisePredRaw.tensor();
      result.produced.denoised = denoised.tensor();
      return result;
    },
  };
}
