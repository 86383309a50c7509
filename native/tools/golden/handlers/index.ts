import type { ComponentHandler } from "../handler.js";
import { createPipelineHandler } from "./pipeline.js";
import { withResolutionBinning } from "./resolution-binning.js";
import { schedulerHandler } from "./scheduler.js";
import { createTextEncoderHandler } from "./text-encoder.js";
import { createTokenizerHandler } from "./tokenizer.js";
import { createTransformerHandler } from "./transformer.js";
import { createVaeHandler } from "./vae.js";

// The components this engine runs. A manifest component without a handler here is reported
// as unsupported. Fresh handlers per run: they cache loaded models.
export function createHandlers(): Map<string, ComponentHandler> {
  const handlers = [
    schedulerHandler,
    createTransformerHandler(),
    withResolutionBinning(createPipelineHandler()),
    createVaeHandler(),
  ];
  handlers.push(createTokenizerHandler());
  handlers.push(createTextEncoderHandler());
  return new Map(handlers.map((h) => [h.component, h]));
}
