import type { EncodedPrompt, SanaTextEncoder } from "../../../lib/text-encoder.js";
import { type PipelinePlan, textLayout } from "./pipeline-plan.js";

// encode_prompt as the pipelines call it: positive prompts with the instruction and
// select_index, negative prompts (CFG) without the instruction, then the transformer batch
// assembled in the pipeline's order (cat([negative, positive]) for CFG, [.., positive] again
// for PAG's perturbed copy).

export interface BatchConditioning {
  /** (modelBatch, tokens, hidden) encoder_hidden_states. */
  caption: Float32Array;
  /** (modelBatch, tokens) 0/1 encoder_attention_mask. */
  mask: BigInt64Array;
  shape: [number, number, number];
  /** What the denoiser takes: the prompts' own rows, and the negative ones with CFG. */
  positive: EncodedPrompt;
  negative: EncodedPrompt | undefined;
}

export async function encodeBatchPrompts(
  encoder: SanaTextEncoder,
  plan: PipelinePlan,
): Promise<BatchConditioning> {
  const { maxSequenceLength } = plan;
  const positive = await encoder.encodePrompt(plan.prompts, {
    complexHumanInstruction: plan.complexHumanInstruction ?? false,
    maxSequenceLength,
  });
  const layout = textLayout(plan.layout);
  const negative = layout.includes("negative")
    ? await encoder.encodePrompt(
        plan.prompts.map(() => plan.negativePrompt),
        { complexHumanInstruction: false, maxSequenceLength },
      )
    : undefined;
  const parts: EncodedPrompt[] = layout.map((which) => {
    const part = which === "negative" ? negative : positive;
    if (part === undefined) throw new Error("negative prompts were not encoded");
    return part;
  });
  const [batch, tokens, hidden] = positive.shape;
  const caption = new Float32Array(parts.length * batch * tokens * hidden);
  const mask = new BigInt64Array(parts.length * batch * tokens);
  parts.forEach((part, i) => {
    caption.set(part.embeds, i * part.embeds.length);
    part.mask.forEach((m, j) => {
      mask[i * part.mask.length + j] = BigInt(m);
    });
  });
  return { caption, mask, shape: [parts.length * batch, tokens, hidden], positive, negative };
}
