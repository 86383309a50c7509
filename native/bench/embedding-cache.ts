// The prompt-embedding cache's hit path with SANA's real sizes (300 x 2304 float32 per prompt),
// next to what a miss costs (a Gemma-2 encode: seconds, see `npm run bench -- --gemma`).
//   npx tsx native/bench/embedding-cache.ts [--entries N] [--reps N]
// Needs no addon and no model: the cache is pure TypeScript.
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  type CachedPromptEncoding,
  DEFAULT_EMBEDDING_CACHE_BYTES,
  EmbeddingCache,
  type EmbeddingCacheKey,
} from "../lib/embedding-cache.js";
import { COMPLEX_HUMAN_INSTRUCTION } from "../lib/tokenizer/prompt.js";

const { values } = parseArgs({
  options: { entries: { type: "string", default: "64" }, reps: { type: "string", default: "2000" } },
});
const entries = Number(values.entries);
const reps = Number(values.reps);
const TOKENS = 300;
const HIDDEN = 2304;

function encoding(seed: number): CachedPromptEncoding {
  const embeds = new Float32Array(TOKENS * HIDDEN);
  for (let i = 0; i < embeds.length; i += 97) embeds[i] = seed + i;
  const mask = new Float32Array(TOKENS);
  mask.fill(1, 0, 20);
  return { embeds, mask };
}

const key = (i: number): EmbeddingCacheKey => ({
  model: "/models/Sana_600M_1024px_diffusers#0123456789abcdef",
  prompt: `prompt number ${i}: a small, fluffy white cat curled up on a warm sunny windowsill`,
  instruction: COMPLEX_HUMAN_INSTRUCTION.join("\n"),
  maxSequenceLength: TOKENS,
  exactPadding: false,
});

/** Median of `reps` timings of fn, in milliseconds. */
async function medianMs(fn: (i: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

const cache = new EmbeddingCache(DEFAULT_EMBEDDING_CACHE_BYTES);
let misses = 0;
const miss = (i: number) => async () => {
  misses++;
  return encoding(i);
};
for (let i = 0; i < entries; i++) await cache.get(key(i), miss(i));
const filled = cache.stats();

const hit = await medianMs((i) => cache.get(key(i % entries), miss(i)));
// The copy alone, to show what the hit path spends beyond it.
const source = encoding(0);
const copy = await medianMs(async () => [source.embeds.slice(), source.mask.slice()]);
// Misses that each evict: a full cache under a stream of new prompts.
const bound = new EmbeddingCache(8 * (TOKENS * HIDDEN * 4));
let next = 0;
const churn = await medianMs(() => bound.get(key(1e6 + next++), miss(next)));

const mib = (b: number) => (b / 1048576).toFixed(1);
console.log(
  `### embedding cache: ${TOKENS} x ${HIDDEN} float32 prompts (${mib(TOKENS * HIDDEN * 4)} MiB each)\n`,
);
console.log("| measurement | value |\n|---|---|");
console.log(
  `| hit (key, LRU update, private copy of the arrays), median of ${reps} | ${hit.toFixed(3)} ms |`,
);
console.log(`| of which copying ${mib(TOKENS * HIDDEN * 4)} MiB | ${copy.toFixed(3)} ms |`);
console.log(`| miss that stores and evicts (encoder excluded) | ${churn.toFixed(3)} ms |`);
console.log(
  `| default bound / entries after filling ${entries} | ${mib(filled.maxBytes)} MiB / ${filled.entries} (${mib(filled.bytes)} MiB) |`,
);
console.log(`| encoder calls for ${reps} hits | ${misses - entries - next} |`);
