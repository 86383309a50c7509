import { join } from "node:path";
import { native } from "./index.js";
import { type PromptOptions, prepareGemmaPrompts, Tokenizer } from "./tokenizer/index.js";

export * from "./tokenizer/index.js";

// SANA's text side: the Gemma tokenizer and prompt preparation (TypeScript, in the sidecar)
// feeding the Gemma-2 encoder of src/node/text_encoder_binding.cpp (C++, off the JS thread).

/** text_encoder/config.json as the engine read it. */
export interface TextEncoderConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  queryPreAttnScalar: number;
  attnLogitSoftcapping: number | null;
  slidingWindow: number | null;
  layerTypes: ("sliding_attention" | "full_attention")[];
}

export type TokenValues = Int32Array | BigInt64Array | number[];

/** The engine's Gemma2Model. */
export interface NativeTextEncoder {
  readonly config: TextEncoderConfig;
  readonly backend: string;
  /** How the checkpoint stores its weights; the engine computes in float32. */
  readonly weightsDtype: "F32" | "F16" | "BF16";
  readonly weightBytes: number;
  /**
   * last_hidden_state (batch, tokens, hiddenSize) for right-padded ids; attentionMask is
   * 1 for tokens and 0 for padding. Calls on one encoder run one at a time.
   */
  encode(inputIds: TokenValues, attentionMask: TokenValues, shape: [number, number]): Promise<Float32Array>;
}

export interface LoadTextEncoderOptions {
  /** "cpu" (default). */
  backend?: string;
}

export interface TextEncoderBinding {
  /** A text_encoder/ folder, or a pipeline folder that has one. */
  loadTextEncoder(path: string, options?: LoadTextEncoderOptions): Promise<NativeTextEncoder>;
}

function isTextEncoderBinding(value: unknown): value is TextEncoderBinding {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).loadTextEncoder === "function"
  );
}

/** The addon's text-encoder function; throws when the loaded build predates it. */
export function textEncoderBinding(): TextEncoderBinding {
  const addon: unknown = native;
  if (!isTextEncoderBinding(addon)) {
    throw new Error(
      "the loaded sana_native addon has no text encoder binding (rebuild it: npm run build -w native)",
    );
  }
  return addon;
}

export function loadTextEncoder(path: string, options?: LoadTextEncoderOptions): Promise<NativeTextEncoder> {
  return textEncoderBinding().loadTextEncoder(path, options);
}

/**
 * What SanaPipeline.encode_prompt hands the transformer. Structurally a denoise.ts
 * PromptEmbeddings, so it can be passed to denoise() as it is.
 */
export interface EncodedPrompt {
  /** (batch, tokens = maxSequenceLength, hiddenSize): encoder_hidden_states. */
  embeds: Float32Array;
  /** (batch, tokens): encoder_attention_mask, 1 = token, 0 = padding. */
  mask: Float32Array;
  batch: number;
  tokens: number;
  shape: [number, number, number];
}

/**
 * encode_prompt's `prompt_embeds[:, select_index]`: the rows at `positions` (each in
 * [0, tokens)) of every batch item of a (batch, tokens, hidden) array.
 */
export function selectPromptTokens(
  hidden: Float32Array,
  shape: readonly [number, number, number],
  positions: readonly number[],
): Float32Array {
  const [batch, tokens, d] = shape;
  if (hidden.length !== batch * tokens * d) {
    throw new RangeError(
      `selectPromptTokens: ${hidden.length} values, shape [${shape.join(", ")}] needs ${batch * tokens * d}`,
    );
  }
  const out = new Float32Array(batch * positions.length * d);
  for (let b = 0; b < batch; b++) {
    positions.forEach((p, j) => {
      if (!Number.isInteger(p) || p < 0 || p >= tokens)
        throw new RangeError(`selectPromptTokens: position ${p} outside [0, ${tokens})`);
      const src = (b * tokens + p) * d;
      out.set(hidden.subarray(src, src + d), (b * positions.length + j) * d);
    });
  }
  return out;
}

/** Tokenizer + encoder of one pipeline folder: prompt strings in, prompt embeddings out. */
export class SanaTextEncoder {
  private constructor(
    readonly tokenizer: Tokenizer,
    readonly encoder: NativeTextEncoder,
  ) {}

  /** `modelDir` is a diffusers pipeline folder with tokenizer/ and text_encoder/. */
  static async load(modelDir: string, options: LoadTextEncoderOptions = {}): Promise<SanaTextEncoder> {
    // The weights load on a worker thread while the tokenizer is parsed here.
    const encoder = loadTextEncoder(modelDir, options);
    let tokenizer: Tokenizer;
    try {
      tokenizer = Tokenizer.fromFile(join(modelDir, "tokenizer", "tokenizer.json"));
    } catch (error) {
      encoder.catch(() => undefined); // reported through `error`; no unhandled rejection
      throw error;
    }
    return new SanaTextEncoder(tokenizer, await encoder);
  }

  /**
   * SanaPipeline's prompt encoding: lower/strip, complex human instruction (on by default,
   * as for positive prompts; pass false as the pipeline does for negative ones), Gemma-2,
   * then the [0] + last (maxSequenceLength - 1) positions.
   */
  async encodePrompt(
    prompt: string | readonly string[],
    options: PromptOptions = {},
  ): Promise<EncodedPrompt> {
    const prompts = typeof prompt === "string" ? [prompt] : prompt;
    const prepared = prepareGemmaPrompts(this.tokenizer, prompts, options);
    const { batch, length, selectedPositions, maxSequenceLength } = prepared;
    const hidden = await this.encoder.encode(prepared.inputIds, prepared.attentionMask, [batch, length]);
    const d = this.encoder.config.hiddenSize;
    const embeds = selectPromptTokens(hidden, [batch, length, d], selectedPositions);
    return {
      embeds,
      mask: Float32Array.from(prepared.selectedAttentionMask),
      batch,
      tokens: maxSequenceLength,
      shape: [batch, maxSequenceLength, d],
    };
  }
}
