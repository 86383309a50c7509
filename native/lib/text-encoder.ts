import { createHash } from "node:crypto";
import { readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { type CachedPromptEncoding, EmbeddingCache } from "./embedding-cache.js";
import { native } from "./index.js";
import {
  DEFAULT_MAX_SEQUENCE_LENGTH,
  instructionText,
  type PromptOptions,
  prepareGemmaPrompts,
  Tokenizer,
} from "./tokenizer/index.js";

export * from "./embedding-cache.js";
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

/** The positions of a (batch, tokens) mask that an encode must compute: up to the last 1. */
function encodedLength(mask: Int32Array, batch: number, tokens: number): number {
  let n = 1;
  for (let b = 0; b < batch; b++) {
    for (let t = tokens - 1; t >= n; t--) {
      if (mask[b * tokens + t] === 1) {
        n = t + 1;
        break;
      }
    }
  }
  return n;
}

/** The first `columns` columns of a (batch, tokens) array. */
function leadingColumns(values: Int32Array, batch: number, tokens: number, columns: number): Int32Array {
  if (columns === tokens) return values;
  const out = new Int32Array(batch * columns);
  for (let b = 0; b < batch; b++) out.set(values.subarray(b * tokens, b * tokens + columns), b * columns);
  return out;
}

/**
 * The model's identity for cache keys: its resolved folder plus a fingerprint (name, size,
 * mtime) of the files the encoding reads, so a replaced checkpoint or tokenizer gets new keys.
 */
export async function textModelIdentity(modelDir: string): Promise<string> {
  const root = await realpath(modelDir);
  const hash = createHash("sha256");
  for (const sub of ["text_encoder", "tokenizer"]) {
    const dir = join(root, sub);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const info = await stat(join(dir, name));
      hash.update(`${sub}/${name}\0${info.size}\0${info.mtimeMs}\0`);
    }
  }
  return `${root}#${hash.digest("hex").slice(0, 16)}`;
}

export interface EncodePromptOptions extends PromptOptions {
  /**
   * true (default): compute every position as transformers does, padding included (eager
   * attention's average over the prompt). false: encode only up to the last token of the
   * longest prompt and leave the embeddings after it (padding in every prompt) 0. Gemma-2 is
   * causal, so the other positions are what a full encode gives (up to GEMM rounding), and
   * the transformer masks padded positions out (bias -10000: weight exactly 0), so images do
   * not change while an empty negative prompt costs one token instead of 300. Servers want
   * false; true reproduces the reference's intermediate tensors.
   */
  exactPadding?: boolean;
}

export interface SanaTextEncoderOptions extends LoadTextEncoderOptions {
  /**
   * The prompt-embedding cache: an EmbeddingCache (may be shared between encoders: keys
   * name the model), or a byte bound for a private one (0: no caching; concurrent identical
   * requests still share one encode). Default: a private cache of
   * DEFAULT_EMBEDDING_CACHE_BYTES.
   */
  embeddingCache?: EmbeddingCache | number;
}

/** Tokenizer + encoder of one pipeline folder: prompt strings in, prompt embeddings out. */
export class SanaTextEncoder {
  readonly embeddingCache: EmbeddingCache;

  private constructor(
    readonly tokenizer: Tokenizer,
    readonly encoder: NativeTextEncoder,
    /** The model part of cache keys (textModelIdentity for loaded folders). */
    readonly modelIdentity: string,
    cache: EmbeddingCache | number | undefined,
  ) {
    this.embeddingCache = cache instanceof EmbeddingCache ? cache : new EmbeddingCache(cache);
  }

  /** `modelDir` is a diffusers pipeline folder with tokenizer/ and text_encoder/. */
  static async load(modelDir: string, options: SanaTextEncoderOptions = {}): Promise<SanaTextEncoder> {
    const { embeddingCache, ...loadOptions } = options;
    // The weights load on a worker thread while the tokenizer is parsed here. The load may
    // fail (a bad backend, no device) while the await below is pending: mark its rejection
    // handled now (the `await encoder` further down still sees it), or Node reports an
    // unhandled rejection, which kills the process.
    const encoder = loadTextEncoder(modelDir, loadOptions);
    encoder.catch(() => undefined);
    const tokenizer = Tokenizer.fromFile(join(modelDir, "tokenizer", "tokenizer.json"));
    const identity = await textModelIdentity(modelDir);
    return new SanaTextEncoder(tokenizer, await encoder, identity, embeddingCache);
  }

  /**
   * An encoder from parts: `modelIdentity` must change whenever the tokenizer or weights do
   * (it keys the cache).
   */
  static fromParts(
    tokenizer: Tokenizer,
    encoder: NativeTextEncoder,
    modelIdentity: string,
    options: Pick<SanaTextEncoderOptions, "embeddingCache"> = {},
  ): SanaTextEncoder {
    return new SanaTextEncoder(tokenizer, encoder, modelIdentity, options.embeddingCache);
  }

  /**
   * SanaPipeline's prompt encoding: lower/strip, complex human instruction (on by default,
   * as for positive prompts; pass false as the pipeline does for negative ones), Gemma-2,
   * then the [0] + last (maxSequenceLength - 1) positions. Each prompt is looked up in the
   * embedding cache and encoded on a miss.
   */
  async encodePrompt(
    prompt: string | readonly string[],
    options: EncodePromptOptions = {},
  ): Promise<EncodedPrompt> {
    const prompts = typeof prompt === "string" ? [prompt] : prompt;
    if (prompts.length === 0) throw new RangeError("encodePrompt: no prompts");
    const maxSequenceLength = options.maxSequenceLength ?? DEFAULT_MAX_SEQUENCE_LENGTH;
    const instruction = instructionText(options.complexHumanInstruction);
    const exactPadding = options.exactPadding ?? true;
    const parts = await Promise.all(
      prompts.map((p) =>
        this.embeddingCache.get(
          { model: this.modelIdentity, prompt: p, instruction, maxSequenceLength, exactPadding },
          () => this.encodeUncached([p], options),
        ),
      ),
    );
    const d = this.encoder.config.hiddenSize;
    const batch = prompts.length;
    const [only] = parts;
    if (batch === 1 && only !== undefined) {
      // The cache hands out private copies already.
      return { ...only, batch, tokens: maxSequenceLength, shape: [batch, maxSequenceLength, d] };
    }
    const embeds = new Float32Array(batch * maxSequenceLength * d);
    const mask = new Float32Array(batch * maxSequenceLength);
    parts.forEach((part, b) => {
      embeds.set(part.embeds, b * maxSequenceLength * d);
      mask.set(part.mask, b * maxSequenceLength);
    });
    return { embeds, mask, batch, tokens: maxSequenceLength, shape: [batch, maxSequenceLength, d] };
  }

  /** The encode itself, for any batch: tokenizer, Gemma-2 (valid prefix), select_index. */
  private async encodeUncached(
    prompts: readonly string[],
    options: EncodePromptOptions,
  ): Promise<CachedPromptEncoding> {
    const prepared = prepareGemmaPrompts(this.tokenizer, prompts, options);
    const { batch, length, selectedPositions } = prepared;
    const n = options.exactPadding === false ? encodedLength(prepared.attentionMask, batch, length) : length;
    const hidden = await this.encoder.encode(
      leadingColumns(prepared.inputIds, batch, length, n),
      leadingColumns(prepared.attentionMask, batch, length, n),
      [batch, n],
    );
    const d = this.encoder.config.hiddenSize;
    if (hidden.length !== batch * n * d) {
      throw new Error(`text encoder returned ${hidden.length} values, expected ${batch} x ${n} x ${d}`);
    }
    const selected = selectedPositions.length;
    const embeds = new Float32Array(batch * selected * d);
    for (let b = 0; b < batch; b++) {
      selectedPositions.forEach((p, j) => {
        if (p >= n) return; // not encoded: stays 0
        const src = (b * n + p) * d;
        embeds.set(hidden.subarray(src, src + d), (b * selected + j) * d);
      });
    }
    return { embeds, mask: Float32Array.from(prepared.selectedAttentionMask) };
  }
}
