// Gemma tokenizer (tokenizer.json, HF tokenizers semantics) and SanaPipeline's prompt
// preparation, in TypeScript: token ids are made in the sidecar, the engine sees only ids.
export type { AddedToken } from "./added-tokens.js";
export { TokenizerFormatError } from "./json-fields.js";
export {
  COMPLEX_HUMAN_INSTRUCTION,
  DEFAULT_MAX_SEQUENCE_LENGTH,
  instructionText,
  type PreparedPrompts,
  type PromptOptions,
  prepareGemmaPrompts,
  preprocessPrompt,
  resolveSelectIndex,
  sanaSelectIndex,
} from "./prompt.js";
export { isPythonSpace, pythonLower, pythonStrip } from "./python-str.js";
export { type EncodeOptions, Tokenizer } from "./tokenizer.js";
