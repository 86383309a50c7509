// A byte-bounded LRU of prompt encodings, so that repeated prompts (and the pipeline's
// common empty negative prompt) skip the Gemma-2 encoder: seconds per prompt on a CPU.
// Concurrent requests for one key share a single encode.

/** What one prompt's encoding caches: a batch-1 EncodedPrompt's arrays. */
export interface CachedPromptEncoding {
  /** (1, tokens, hidden): encoder_hidden_states. */
  embeds: Float32Array;
  /** (1, tokens): 1 = token, 0 = padding. */
  mask: Float32Array;
}

/** Everything an encoding depends on. */
export interface EmbeddingCacheKey {
  /** The model's identity: its folder and a fingerprint of the files the encoding reads. */
  model: string;
  /** The prompt as given (SanaPipeline's preprocessing is deterministic). */
  prompt: string;
  /** The complex human instruction's text, "" for none. */
  instruction: string;
  maxSequenceLength: number;
  /** Whether padded positions were computed (see EncodePromptOptions.exactPadding). */
  exactPadding: boolean;
}

export interface EmbeddingCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  /** Requests that joined an encode already in flight for the same key. */
  shared: number;
  evictions: number;
}

/** Default bound: about 90 prompts of SANA's 300 x 2304 float32 embeddings. */
export const DEFAULT_EMBEDDING_CACHE_BYTES = 256 * 1024 * 1024;

function keyString(key: EmbeddingCacheKey): string {
  // JSON keeps the fields apart whatever characters the prompt contains.
  return JSON.stringify([key.model, key.prompt, key.instruction, key.maxSequenceLength, key.exactPadding]);
}

function entryBytes(key: string, value: CachedPromptEncoding): number {
  // The key string is counted too (UTF-16): a long prompt's key is not free.
  return value.embeds.byteLength + value.mask.byteLength + 2 * key.length;
}

function copyEncoding(value: CachedPromptEncoding): CachedPromptEncoding {
  return { embeds: value.embeds.slice(), mask: value.mask.slice() };
}

export class EmbeddingCache {
  readonly maxBytes: number;
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently
  // used entry first.
  private readonly entries = new Map<string, { value: CachedPromptEncoding; bytes: number }>();
  private readonly inFlight = new Map<string, Promise<CachedPromptEncoding>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private shared = 0;
  private evictions = 0;

  /** maxBytes: the bound on cached bytes; 0 disables caching (in-flight sharing stays). */
  constructor(maxBytes: number = DEFAULT_EMBEDDING_CACHE_BYTES) {
    if (!Number.isFinite(maxBytes) || maxBytes < 0) {
      throw new RangeError(`EmbeddingCache: maxBytes must be a finite number >= 0, got ${maxBytes}`);
    }
    this.maxBytes = maxBytes;
  }

  /**
   * The cached encoding for `key`, or `encode()`'s, which is then cached. Callers get their
   * own copies of the arrays, so writing to a result cannot change what others receive.
   * A failed encode is not cached: every request waiting on it gets the error.
   */
  async get(
    key: EmbeddingCacheKey,
    encode: () => Promise<CachedPromptEncoding>,
  ): Promise<CachedPromptEncoding> {
    const k = keyString(key);
    const hit = this.entries.get(k);
    if (hit !== undefined) {
      this.hits++;
      this.entries.delete(k);
      this.entries.set(k, hit);
      return copyEncoding(hit.value);
    }
    const pending = this.inFlight.get(k);
    if (pending !== undefined) {
      this.shared++;
      return copyEncoding(await pending);
    }
    this.misses++;
    const job = encode().then((value) => {
      this.store(k, value);
      return value;
    });
    this.inFlight.set(k, job);
    try {
      return copyEncoding(await job);
    } finally {
      this.inFlight.delete(k);
    }
  }

  /** Whether `key` is cached now (in-flight encodes do not count). */
  has(key: EmbeddingCacheKey): boolean {
    return this.entries.has(keyString(key));
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): EmbeddingCacheStats {
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
      shared: this.shared,
      evictions: this.evictions,
    };
  }

  private store(k: string, value: CachedPromptEncoding): void {
    const bytes = entryBytes(k, value);
    if (bytes > this.maxBytes) return; // would evict everything and still not fit
    const old = this.entries.get(k);
    if (old !== undefined) {
      this.entries.delete(k);
      this.bytes -= old.bytes;
    }
    // `value` itself never leaves the cache: every caller gets a copy.
    this.entries.set(k, { value, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
      this.evictions++;
    }
  }
}
