import { samplerName } from "@sana-edge/proto";
import type { Context } from "hono";
import type { AppEnv } from "../app-env.js";
import { generationDeps } from "../generation/deps.js";

// GET /v1/models: OpenAI's model list, each entry with the SANA capabilities clients need to
// build valid requests (sizes, steps, samplers, defaults).

export async function listModels(c: Context<AppEnv>): Promise<Response> {
  const { pool } = generationDeps(c.env, (work) => c.executionCtx.waitUntil(work));
  const models = await pool.models();
  return c.json({
    object: "list",
    data: models.map((model) => {
      const caps = model.capabilities;
      return {
        id: model.id,
        object: "model",
        created: 0,
        owned_by: "sana-edge",
        revision: model.revision,
        pipeline: model.pipelineClass,
        capabilities: caps && {
          native_resolution: caps.nativeResolution,
          max_width: caps.maxWidth,
          max_height: caps.maxHeight,
          resolution_multiple: caps.resolutionMultiple,
          samplers: caps.samplers.map(samplerName),
          default_sampler: samplerName(caps.defaultSampler),
          default_steps: caps.defaultSteps,
          max_steps: caps.maxSteps,
          default_guidance_scale: caps.defaultGuidanceScale,
          negative_prompt: caps.supportsNegativePrompt,
        },
      };
    }),
  });
}
