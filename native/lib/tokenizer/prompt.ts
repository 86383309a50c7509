// Prompt -> token ids exactly as diffusers' SanaPipeline prepares them for Gemma-2
// (_get_gemma_prompt_embeds + encode_prompt's select_index):
//   text = prompt.lower().strip()                       (clean_caption=False)
//   with the complex human instruction (CHI): text = "\n".join(CHI) + text and
//     max_length = len(tokenizer.encode(chi)) + max_sequence_length - 2, else max_sequence_length
//   ids = tokenizer(text, padding="max_length", max_length, truncation=True) (<bos> first,
//     right padding with <pad>, attention mask 1/0)
//   the encoder's output keeps positions [0] + [-max_sequence_length + 1, ..., -1].
import { pythonLower, pythonStrip } from "./python-str.js";
import type { Tokenizer } from "./tokenizer.js";

/** SanaPipeline's default complex_human_instruction, joined with "\n" before each prompt. */
export const COMPLEX_HUMAN_INSTRUCTION: readonly string[] = [
  "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
  "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.",
  "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
  "Here are examples of how to transform or refine prompts:",
  "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
  "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.",
  "Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
  "User Prompt: ",
];

export const DEFAULT_MAX_SEQUENCE_LENGTH = 300;

export interface PromptOptions {
  /**
   * true (the pipeline's default for prompts): SanaPipeline's instruction; false: none (as
   * the pipeline encodes negative prompts); or custom instruction lines.
   */
  complexHumanInstruction?: boolean | readonly string[];
  /** Tokens the transformer receives per prompt (pipeline default 300). */
  maxSequenceLength?: number;
}

export interface PreparedPrompts {
  batch: number;
  /** Columns of inputIds/attentionMask: the tokenizer's max_length ("max_length_all"). */
  length: number;
  /** (batch, length) row-major, right-padded with the tokenizer's pad id. */
  inputIds: Int32Array;
  /** (batch, length): 1 = token, 0 = padding. */
  attentionMask: Int32Array;
  maxSequenceLength: number;
  /** encode_prompt's select_index as Python writes it: [0, -maxSequenceLength + 1, ..., -1]. */
  selectIndex: number[];
  /** The same positions counted from the start, each in [0, length). */
  selectedPositions: number[];
  /** (batch, maxSequenceLength): the attention mask at selectedPositions. */
  selectedAttentionMask: Int32Array;
}

/** The preprocessing SanaPipeline applies to each prompt before the instruction. */
export function preprocessPrompt(prompt: string): string {
  return pythonStrip(pythonLower(prompt));
}

function instructionLines(option: PromptOptions["complexHumanInstruction"]): readonly string[] | null {
  if (option === undefined || option === true) return COMPLEX_HUMAN_INSTRUCTION;
  if (option === false) return null;
  // diffusers tests `if complex_human_instruction:`, so an empty list means none.
  return option.length > 0 ? option : null;
}

/** The instruction text an option puts before each prompt ("" for none). */
export function instructionText(option: PromptOptions["complexHumanInstruction"]): string {
  return instructionLines(option)?.join("\n") ?? "";
}

// len(tokenizer.encode(chi_prompt)) per tokenizer and instruction: the same few thousand
// characters would otherwise be tokenised twice for every prompt.
const instructionCounts = new WeakMap<Tokenizer, Map<string, number>>();

function instructionTokenCount(tokenizer: Tokenizer, text: string): number {
  let counts = instructionCounts.get(tokenizer);
  if (counts === undefined) {
    counts = new Map();
    instructionCounts.set(tokenizer, counts);
  }
  let n = counts.get(text);
  if (n === undefined) {
    n = tokenizer.encode(text).length;
    counts.set(text, n);
  }
  return n;
}

/** encode_prompt's select_index: [0] + list(range(-maxSequenceLength + 1, 0)). */
export function sanaSelectIndex(maxSequenceLength: number): number[] {
  const index = [0];
  for (let i = -maxSequenceLength + 1; i < 0; i++) index.push(i);
  return index;
}

/** Python indices (negative = from the end) as positions in [0, length). */
export function resolveSelectIndex(index: readonly number[], length: number): number[] {
  return index.map((i) => {
    const p = i < 0 ? length + i : i;
    if (p < 0 || p >= length)
      throw new RangeError(`select_index ${i} is outside the ${length} encoded positions`);
    return p;
  });
}

export function prepareGemmaPrompts(
  tokenizer: Tokenizer,
  prompts: readonly string[],
  options: PromptOptions = {},
): PreparedPrompts {
  const maxSequenceLength = options.maxSequenceLength ?? DEFAULT_MAX_SEQUENCE_LENGTH;
  if (!Number.isInteger(maxSequenceLength) || maxSequenceLength < 1) {
    throw new RangeError(`maxSequenceLength must be a positive integer, got ${maxSequenceLength}`);
  }
  if (prompts.length === 0) throw new RangeError("prepareGemmaPrompts: no prompts");
  const padId = tokenizer.tokenToId("<pad>");
  if (padId === undefined) throw new Error("prepareGemmaPrompts: the tokenizer has no <pad> token");

  let texts = prompts.map(preprocessPrompt);
  let length = maxSequenceLength;
  const chi = instructionLines(options.complexHumanInstruction);
  if (chi !== null) {
    const chiText = chi.join("\n");
    texts = texts.map((t) => chiText + t);
    length = instructionTokenCount(tokenizer, chiText) + maxSequenceLength - 2;
  }
  // Truncation keeps room for the special tokens the template adds, as transformers does.
  const contentBudget = length - tokenizer.specialTokenCount;
  if (contentBudget < 0) throw new RangeError(`max length ${length} leaves no room for the special tokens`);

  const batch = texts.length;
  const inputIds = new Int32Array(batch * length).fill(padId);
  const attentionMask = new Int32Array(batch * length);
  texts.forEach((text, b) => {
    const content = tokenizer.encode(text, { addSpecialTokens: false }).slice(0, contentBudget);
    const ids = tokenizer.withSpecialTokens(content);
    inputIds.set(ids, b * length);
    attentionMask.fill(1, b * length, b * length + ids.length);
  });

  const selectIndex = sanaSelectIndex(maxSequenceLength);
  const selectedPositions = resolveSelectIndex(selectIndex, length);
  const selectedAttentionMask = new Int32Array(batch * maxSequenceLength);
  for (let b = 0; b < batch; b++) {
    selectedPositions.forEach((p, j) => {
      selectedAttentionMask[b * maxSequenceLength + j] = attentionMask[b * length + p] as number;
    });
  }
  return {
    batch,
    length,
    inputIds,
    attentionMask,
    maxSequenceLength,
    selectIndex,
    selectedPositions,
    selectedAttentionMask,
  };
}
