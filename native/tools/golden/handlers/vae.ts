import { loadVae, type VaeModel } from "../../../lib/vae.js";
import { type CaseContext, type ComponentHandler, type HandlerResult, modelCache } from "../handler.js";

// VAE cases: AutoencoderDC.decode of a recorded latent (input "latent") or .encode of a
// recorded image (input "image"), raw (no scaling_factor, as the cases record them), with
// the intermediates captured; every output is looked up by its manifest name.

export function createVaeHandler(): ComponentHandler {
  const model = modelCache<VaeModel>(
    "VAE",
    (dir, backend) => loadVae(dir, { backend }),
    (m) => m.info().backend,
  );

  return {
    component: "vae",

    unsupportedCase(testCase) {
      const decodes = Object.hasOwn(testCase.inputs, "latent");
      const encodes = Object.hasOwn(testCase.inputs, "image");
      return decodes !== encodes
        ? undefined
        : "a vae case needs exactly one of the inputs latent (decode) or image (encode)";
    },

    async run({ testCase, tensors, modelDir, backend = "cpu" }: CaseContext): Promise<HandlerResult> {
      if (modelDir === null) throw new Error(`${testCase.name}: a vae case needs a model`);
      const vae = await model(modelDir, backend);
      const decodes = Object.hasOwn(testCase.inputs, "latent");
      const input = tensors.float32(decodes ? "latent" : "image");
      const { intermediates, ...output } = decodes
        ? await vae.decode(input.data, input.shape, { capture: true, tiled: false })
        : await vae.encode(input.data, input.shape, { capture: true });
      const result: HandlerResult = { produced: { [decodes ? "image" : "latent"]: output }, unsupported: {} };
      for (const [name, tensor] of Object.entries(intermediates ?? {})) result.produced[name] = tensor;
      return result;
    },
  };
}
