import { join } from "node:path";
import { prepareGemmaPrompts, Tokenizer } from "../../../lib/tokenizer/index.js";
import type { CaseContext, ComponentHandler, HandlerResult } from "../handler.js";
import { hasParam, integerParam, stringListParam } from "../params.js";

// Tokenizer cases: the model folder's tokenizer/tokenizer.json through the TypeScript
// tokenizer. tokenizer_raw encodes the prompts as they are (ragged ids + offsets); the
// pipeline cases prepare them as SanaPipeline does (lower/strip, instruction, padding,
// truncation, select_index).

function int64(values: ArrayLike<number>): BigInt64Array {
  return BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
}

export function createTokenizerHandler(): ComponentHandler {
  const tokenizers = new Map<string, Tokenizer>();
  const tokenizer = (modelDir: string): Tokenizer => {
    let t = tokenizers.get(modelDir);
    if (t === undefined) {
      t = Tokenizer.fromFile(join(modelDir, "tokenizer", "tokenizer.json"));
      tokenizers.set(modelDir, t);
    }
    return t;
  };

  return {
    component: "tokenizer",
    // The TypeScript tokenizer: no engine model, so no backend.
    runsModel: () => false,

    async run({ testCase, modelDir }: CaseContext): Promise<HandlerResult> {
      if (modelDir === null) throw new Error(`${testCase.name}: a tokenizer case needs a model`);
      const tok = tokenizer(modelDir);
      const prompts = stringListParam(testCase, "prompts");
      if (!hasParam(testCase, "max_sequence_length")) {
        const rows = prompts.map((p) => tok.encode(p));
        const offsets = [0];
        for (const row of rows) offsets.push((offsets[offsets.length - 1] as number) + row.length);
        const ids = rows.flat();
        return {
          produced: {
            ids: { shape: [ids.length], data: int64(ids) },
            offsets: { shape: [offsets.length], data: int64(offsets) },
          },
          unsupported: {},
        };
      }
      const instruction = testCase.params.complex_human_instruction;
      const prepared = prepareGemmaPrompts(tok, prompts, {
        complexHumanInstruction:
          instruction === null ? false : stringListParam(testCase, "complex_human_instruction"),
        maxSequenceLength: integerParam(testCase, "max_sequence_length"),
      });
      const { batch, length, maxSequenceLength } = prepared;
      return {
        produced: {
          input_ids: { shape: [batch, length], data: int64(prepared.inputIds) },
          attention_mask: { shape: [batch, length], data: int64(prepared.attentionMask) },
          select_index: { shape: [maxSequenceLength], data: int64(prepared.selectIndex) },
          selected_attention_mask: {
            shape: [batch, maxSequenceLength],
            data: int64(prepared.selectedAttentionMask),
          },
        },
        unsupported: {},
      };
    },
  };
}
