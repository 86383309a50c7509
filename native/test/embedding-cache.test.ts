import { describe, expect, it } from "vitest";
import { type CachedPromptEncoding, EmbeddingCache, type EmbeddingCacheKey } from "../lib/embedding-cache.js";

const HIDDEN = 8;
const TOKENS = 4;

function key(prompt: string, overrides: Partial<EmbeddingCacheKey> = {}): EmbeddingCacheKey {
  return {
    model: "/models/a#f00",
    prompt,
    instruction: "",
    maxSequenceLength: TOKENS,
    exactPadding: false,
    ...overrides,
  };
}

/** An encoder that counts its calls and answers with values derived from the prompt. */
function countingEncoder() {
  const calls: string[] = [];
  const encode =
    (prompt: string, seed = prompt.length) =>
    async (): Promise<CachedPromptEncoding> => {
      calls.push(prompt);
      const embeds = new Float32Array(TOKENS * HIDDEN).map((_, i) => seed * 1000 + i);
      return { embeds, mask: new Float32Array([1, 1, 0, 0]) };
    };
  return { calls, encode };
}

// embeds + mask + the key's UTF-16 characters.
const entryBytes = (k: EmbeddingCacheKey) =>
  TOKENS * HIDDEN * 4 +
  TOKENS * 4 +
  2 * JSON.stringify([k.model, k.prompt, k.instruction, k.maxSequenceLength, k.exactPadding]).length;

describe("EmbeddingCache", () => {
  it("answers a repeated prompt with equal arrays without calling the encoder again", async () => {
    const cache = new EmbeddingCache(1 << 20);
    const { calls, encode } = countingEncoder();
    const first = await cache.get(key("a red fox"), encode("a red fox"));
    const second = await cache.get(key("a red fox"), encode("a red fox"));
    expect(calls).toEqual(["a red fox"]);
    expect(second.embeds).toEqual(first.embeds);
    expect(second.mask).toEqual(first.mask);
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 1 });
  });

  it("gives every caller its own copy: writing to a result does not change later hits", async () => {
    const cache = new EmbeddingCache(1 << 20);
    const { encode } = countingEncoder();
    const first = await cache.get(key("p"), encode("p"));
    const expected = first.embeds.slice();
    first.embeds.fill(-1);
    first.mask.fill(-1);
    const again = await cache.get(key("p"), encode("p"));
    expect(again.embeds).toEqual(expected);
    expect(Array.from(again.mask)).toEqual([1, 1, 0, 0]);
  });

  it("keeps the instruction flag, the sequence length, the padding mode and the model apart", async () => {
    const cache = new EmbeddingCache(1 << 20);
    const { calls, encode } = countingEncoder();
    const variants: EmbeddingCacheKey[] = [
      key("cat"),
      key("cat", { instruction: "Given a user prompt" }),
      key("cat", { maxSequenceLength: 300 }),
      key("cat", { exactPadding: true }),
      key("cat", { model: "/models/b#f00" }),
      key("cat", { model: "/models/a#ba5" }),
    ];
    for (const [i, k] of variants.entries()) await cache.get(k, encode(`v${i}`, i));
    expect(calls).toHaveLength(variants.length);
    expect(cache.stats().entries).toBe(variants.length);
    // and each key answers with its own encoding
    const back = await cache.get(variants[3] as EmbeddingCacheKey, encode("unused"));
    expect(back.embeds[0]).toBe(3000);
    expect(calls).toHaveLength(variants.length);
  });

  it("does not confuse fields whose concatenations are equal", async () => {
    const cache = new EmbeddingCache(1 << 20);
    const { calls, encode } = countingEncoder();
    await cache.get(key("b", { instruction: "a" }), encode("1"));
    await cache.get(key("", { instruction: "ab" }), encode("2"));
    expect(calls).toEqual(["1", "2"]);
  });

  it("evicts the least recently used entries to stay within its byte bound", async () => {
    const bytes = entryBytes(key("p0"));
    const cache = new EmbeddingCache(3 * bytes);
    const { calls, encode } = countingEncoder();
    for (const p of ["p0", "p1", "p2"]) await cache.get(key(p), encode(p));
    await cache.get(key("p0"), encode("p0")); // p0 is now the most recent; p1 the oldest
    await cache.get(key("p3"), encode("p3"));
    expect(cache.stats()).toMatchObject({ entries: 3, evictions: 1, bytes: 3 * bytes });
    expect(cache.stats().bytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(cache.has(key("p1"))).toBe(false);
    for (const p of ["p0", "p2", "p3"]) expect(cache.has(key(p))).toBe(true);
    await cache.get(key("p1"), encode("p1"));
    expect(calls).toEqual(["p0", "p1", "p2", "p3", "p1"]);
  });

  it("does not store an entry larger than the bound, and stores nothing with bound 0", async () => {
    const { calls, encode } = countingEncoder();
    const small = new EmbeddingCache(entryBytes(key("x")) - 1);
    await small.get(key("x"), encode("x"));
    await small.get(key("x"), encode("x"));
    expect(small.stats()).toMatchObject({ entries: 0, bytes: 0 });
    const none = new EmbeddingCache(0);
    await none.get(key("y"), encode("y"));
    await none.get(key("y"), encode("y"));
    expect(calls).toEqual(["x", "x", "y", "y"]);
  });

  it("runs one encode for concurrent identical requests and shares its result", async () => {
    const cache = new EmbeddingCache(0); // sharing does not depend on caching
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const encode = async (): Promise<CachedPromptEncoding> => {
      calls++;
      await gate;
      return { embeds: new Float32Array([1, 2, 3]), mask: new Float32Array([1]) };
    };
    const requests = [
      cache.get(key("same"), encode),
      cache.get(key("same"), encode),
      cache.get(key("same"), encode),
    ];
    release();
    const results = await Promise.all(requests);
    expect(calls).toBe(1);
    for (const r of results) expect(Array.from(r.embeds)).toEqual([1, 2, 3]);
    expect(results[0]?.embeds).not.toBe(results[1]?.embeds); // copies, not one shared array
    expect(cache.stats()).toMatchObject({ misses: 1, shared: 2 });
  });

  it("caches no failure: every waiter gets the error, and the next request encodes again", async () => {
    const cache = new EmbeddingCache(1 << 20);
    let calls = 0;
    const failing = async (): Promise<CachedPromptEncoding> => {
      calls++;
      await Promise.resolve();
      throw new Error("encoder exploded");
    };
    const both = [cache.get(key("boom"), failing), cache.get(key("boom"), failing)];
    for (const r of both) await expect(r).rejects.toThrow("encoder exploded");
    expect(calls).toBe(1);
    const { encode } = countingEncoder();
    await cache.get(key("boom"), encode("boom"));
    expect(cache.stats().entries).toBe(1);
  });

  it("rejects a negative or non-finite bound", () => {
    expect(() => new EmbeddingCache(-1)).toThrow(RangeError);
    expect(() => new EmbeddingCache(Number.NaN)).toThrow(RangeError);
  });
});
