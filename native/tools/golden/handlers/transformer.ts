import { loadTransformer, type Transformer } from "../../../lib/dit.js";
import { type CaseContext, type ComponentHandler, type HandlerResult, modelCache } from "../handler.js";

// Transformer cases: one SanaTransformer2DModel.forward on the recorded inputs, with the
// intermediates captured; every output is looked up by its manifest name.

export function createTransformerHandler(): ComponentHandler {
  const model = modelCache<Transformer>(
    "transformer",
    (dir, backend) => loadTransformer(dir, { backend }),
    (m) => m.backend,
  );

  return {
    component: "transformer",

    async run({ testCase, tensors, modelDir, backend = "cpu" }: CaseContext): Promise<HandlerResult> {
      if (modelDir === null) throw new Error(`${testCase.name}: a transformer case needs a model`);
      const transformer = await model(modelDir, backend);
      const hidden = tensors.float32("hidden_states");
      const caption = tensors.float32("encoder_hidden_states");
      const mask = tensors.int64("encoder_attention_mask");
      const timestep = tensors.float32("timestep");
      const guidance = Object.hasOwn(testCase.inputs, "guidance")
        ? tensors.float32("guidance").data
        : undefined;
      const { sample, intermediates } = await transformer.forward(
        {
          hiddenStates: hidden.data,
          shape: hidden.shape,
          timestep: timestep.data,
          encoderHiddenStates: caption.data,
          encoderShape: caption.shape,
          encoderMask: mask.data,
          ...(guidance === undefined ? {} : { guidance }),
        },
        { capture: true },
      );
      const result: HandlerResult = { produced: { sample }, unsupported: {} };
      for (const [name, tensor] of Object.entries(intermediates ?? {})) result.produced[name] = tensor;
      return result;
    },
  };
}
