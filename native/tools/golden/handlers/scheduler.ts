import { createSampler, type SamplerSpec } from "../../../lib/sampler.js";
import type { CaseContext, ComponentHandler, HandlerResult } from "../handler.js";
import { hasParam, integerParam, nullableNumberParam, numberParam, objectParam } from "../params.js";

// Scheduler cases: a sampler built from params.scheduler_config (the class follows from the
// config), stepped over the recorded fake model outputs from sample0. Produces the schedule
// (timesteps, sigmas) and, per step, prev_samples and pred_x0 (the sampler's x0 prediction).

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export const schedulerHandler: ComponentHandler = {
  component: "scheduler",
  runsModel: () => false,

  async run({ testCase, tensors }: CaseContext): Promise<HandlerResult> {
    const steps = integerParam(testCase, "num_inference_steps");
    const spec: SamplerSpec = { config: objectParam(testCase, "scheduler_config"), steps };
    // SanaSprintPipeline passes the SCM schedule's angles explicitly.
    if (hasParam(testCase, "max_timesteps")) spec.maxTimesteps = numberParam(testCase, "max_timesteps");
    if (hasParam(testCase, "intermediate_timesteps")) {
      spec.intermediateTimesteps = nullableNumberParam(testCase, "intermediate_timesteps");
    }
    const sampler = createSampler(spec);

    const sample0 = tensors.float32("sample0");
    const modelOutputs = tensors.float32("model_outputs");
    const stepShape = [steps, ...sample0.shape];
    if (!sameShape(modelOutputs.shape, stepShape)) {
      throw new Error(`${testCase.name}: model_outputs must be [${stepShape.join(", ")}] for ${steps} steps`);
    }
    const noise = sampler.needsNoise ? tensors.float32("noise") : undefined;
    if (noise !== undefined && !sameShape(noise.shape, stepShape)) {
      throw new Error(`${testCase.name}: noise must be [${stepShape.join(", ")}]`);
    }

    const n = sample0.data.length;
    const prevSamples = new Float32Array(steps * n);
    const predX0 = new Float32Array(steps * n);
    let sample = sample0.data;
    for (let i = 0; i < steps; i += 1) {
      const modelOutput = modelOutputs.data.subarray(i * n, (i + 1) * n);
      sample =
        noise === undefined
          ? sampler.step(modelOutput, sample)
          : sampler.step(modelOutput, sample, noise.data.subarray(i * n, (i + 1) * n));
      prevSamples.set(sample, i * n);
      predX0.set(sampler.denoised(), i * n);
    }

    const timesteps = sampler.timesteps();
    const sigmas = sampler.sigmas();
    const result: HandlerResult = {
      produced: {
        timesteps: { shape: [timesteps.length], data: timesteps },
        prev_samples: { shape: stepShape, data: prevSamples },
        pred_x0: { shape: stepShape, data: predX0 },
      },
      unsupported: {},
    };
    if (sigmas.length > 0) result.produced.sigmas = { shape: [sigmas.length], data: sigmas };
    return result;
  },
};
