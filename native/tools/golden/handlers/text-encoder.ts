import {
  loadTextEncoder,
  type NativeTextEncoder,
  resolveSelectIndex,
  sanaSelectIndex,
  selectPromptTokens,
} from "../../../lib/index.js";
import { type CaseContext, type ComponentHandler, type HandlerResult, modelCache } from "../handler.js";
import { integerParam } from "../params.js";

// Text-encoder cases: Gemma2Model on the recorded ids and mask (last_hidden_state), then
// encode_prompt's select_index with params.max_sequence_length (prompt_embeds and
// prompt_attention_mask, what the pipeline feeds the transformer).

export function createTextEncoderHandler(): ComponentHandler {
  const model = modelCache<NativeTextEncoder>(
    "text encoder",
    (dir, backend) => loadTextEncoder(dir, { backend }),
    (m) => m.backend,
  );

  return {
    component: "text_encoder",

    async run({ testCase, tensors, modelDir, backend = "cpu" }: CaseContext): Promise<HandlerResult> {
      if (modelDir === null) throw new Error(`${testCase.name}: a text_encoder case needs a model`);
      const encoder = await model(modelDir, backend);
      const ids = tensors.int64("input_ids");
      const mask = tensors.int64("attention_mask");
      if (ids.shape.length !== 2) throw new Error(`${testCase.name}: input_ids must be (batch, tokens)`);
      const [batch, tokens] = ids.shape as [number, number];
      const hidden = await encoder.encode(ids.data, mask.data, [batch, tokens]);
      const d = encoder.config.hiddenSize;
      const maxSequenceLength = integerParam(testCase, "max_sequence_length");
      const positions = resolveSelectIndex(sanaSelectIndex(maxSequenceLength), tokens);
      const selectedMask = new BigInt64Array(batch * positions.length);
      for (let b = 0; b < batch; b++) {
        positions.forEach((p, j) => {
          selectedMask[b * positions.length + j] = mask.data[b * tokens + p] as bigint;
        });
      }
      return {
        produced: {
          last_hidden_state: { shape: [batch, tokens, d], data: hidden },
          prompt_embeds: {
            shape: [batch, positions.length, d],
            data: selectPromptTokens(hidden, [batch, tokens, d], positions),
          },
          prompt_attention_mask: { shape: [batch, positions.length], data: selectedMask },
        },
        unsupported: {},
      };
    },
  };
}
