// The BPE model of HF tokenizers (models/bpe) for one pre-tokenised word: characters (or
// their UTF-8 bytes as <0xNN> tokens when byte_fallback is on and the character is not in
// the vocabulary) merged pair by pair, lowest merge rank first, leftmost first on ties.
import type { Fields } from "./json-fields.js";

interface Merge {
  rank: number;
  pos: number;
  merged: string;
}

// Binary min-heap on (rank, pos): the order of tokenizers' merge queue.
class MergeQueue {
  private readonly items: Merge[] = [];

  get length(): number {
    return this.items.length;
  }

  private static before(a: Merge, b: Merge): boolean {
    return a.rank < b.rank || (a.rank === b.rank && a.pos < b.pos);
  }

  push(item: Merge): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!MergeQueue.before(h[i] as Merge, h[parent] as Merge)) break;
      [h[i], h[parent]] = [h[parent] as Merge, h[i] as Merge];
      i = parent;
    }
  }

  pop(): Merge {
    const h = this.items;
    const top = h[0] as Merge;
    const last = h.pop() as Merge;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && MergeQueue.before(h[l] as Merge, h[m] as Merge)) m = l;
        if (r < h.length && MergeQueue.before(h[r] as Merge, h[m] as Merge)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Merge, h[i] as Merge];
        i = m;
      }
    }
    return top;
  }
}

const BYTE_TOKENS = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`,
);
const utf8 = new TextEncoder();

export class BpeModel {
  readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  // Joins the two halves of a merge in `ranks` keys. A space for the "a b" file layout
  // (tokens there cannot contain one); [a, b] pairs whose tokens do use another.
  private readonly separator: string;
  private readonly unkToken: string | null;
  private readonly byteFallback: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;

  constructor(model: Fields) {
    model.type(["BPE"] as const);
    for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
      if (model.has(key) && model.string(key) !== "") model.fail(`"${model.where(key)}" is not supported`);
    }
    if (model.has("dropout") && model.value.dropout !== 0) {
      model.fail(`"${model.where("dropout")}" must be null: BPE dropout is random and only for training`);
    }
    const vocab = model.object("vocab").value;
    this.vocab = new Map();
    for (const token in vocab) {
      const id = vocab[token];
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        model.fail(
          `"${model.where("vocab")}" entry ${JSON.stringify(token)} must map to a non-negative integer`,
        );
      }
      this.vocab.set(token, id);
    }
    this.unkToken = model.optionalString("unk_token");
    if (this.unkToken !== null && !this.vocab.has(this.unkToken)) {
      model.fail(`unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`);
    }
    this.byteFallback = model.boolean("byte_fallback", false);
    this.fuseUnk = model.boolean("fuse_unk", false);
    this.ignoreMerges = model.boolean("ignore_merges", false);

    const merges = model.array("merges");
    this.separator = " ";
    const pairs = merges.length > 0 && Array.isArray(merges[0]);
    if (pairs && merges.some((m) => Array.isArray(m) && m.some((part) => String(part).includes(" ")))) {
      this.separator = "\u0000";
    }
    this.ranks = new Map();
    // Backwards, so that a repeated merge ends up with its first (best) rank.
    for (let rank = merges.length - 1; rank >= 0; rank--) {
      const m = merges[rank];
      let key: string;
      if (typeof m === "string" && !pairs) {
        const space = m.indexOf(" ");
        if (space <= 0 || space === m.length - 1) {
          model.fail(`"${model.where("merges")}[${rank}]" = ${JSON.stringify(m)} is not "left right"`);
        }
        key = m;
      } else if (
        pairs &&
        Array.isArray(m) &&
        m.length === 2 &&
        typeof m[0] === "string" &&
        typeof m[1] === "string"
      ) {
        key = m[0] + this.separator + m[1];
      } else {
        model.fail(
          `"${model.where("merges")}[${rank}]" must be "left right" or ["left", "right"] like the others`,
        );
      }
      this.ranks.set(key, rank);
    }
  }

  get mergeCount(): number {
    return this.ranks.size;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  /** Token ids of one word. */
  encodeWord(word: string, out: number[]): void {
    if (word === "") return;
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    const symbols = this.initialSymbols(word);
    for (const s of this.mergeAll(symbols)) {
      const id = this.vocab.get(s);
      if (id === undefined)
        throw new Error(`tokenizer: merged token ${JSON.stringify(s)} is not in the vocabulary`);
      out.push(id);
    }
  }

  // One symbol per character, as tokenizers' BPE::merge_word makes them, including its
  // handling of unknown characters: fused into one <unk> when fuse_unk, and a pending <unk>
  // is only flushed by the next in-vocabulary character (byte-fallback tokens do not).
  private initialSymbols(word: string): string[] {
    const symbols: string[] = [];
    let pendingUnk = false;
    for (const ch of word) {
      if (this.vocab.has(ch)) {
        if (pendingUnk) symbols.push(this.unkToken as string);
        pendingUnk = false;
        symbols.push(ch);
        continue;
      }
      if (this.byteFallback) {
        const bytes = utf8.encode(ch);
        let all = true;
        for (const b of bytes) if (!this.vocab.has(BYTE_TOKENS[b] as string)) all = false;
        if (all) {
          for (const b of bytes) symbols.push(BYTE_TOKENS[b] as string);
          continue;
        }
      }
      if (this.unkToken === null) continue; // tokenizers drops the character then
      if (pendingUnk && !this.fuseUnk) symbols.push(this.unkToken);
      pendingUnk = true;
    }
    if (pendingUnk) symbols.push(this.unkToken as string);
    return symbols;
  }

  private rank(left: string, right: string): number | undefined {
    return this.ranks.get(left + this.separator + right);
  }

  private mergeAll(symbols: string[]): string[] {
    const n = symbols.length;
    if (n < 2) return symbols;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const queue = new MergeQueue();
    const offer = (pos: number): void => {
      const right = next[pos] as number;
      if (right === -1) return;
      const left = symbols[pos] as string;
      const r = symbols[right] as string;
      const rank = this.rank(left, r);
      if (rank !== undefined) queue.push({ rank, pos, merged: left + r });
    };
    for (let i = 0; i + 1 < n; i++) offer(i);
    while (queue.length > 0) {
      const top = queue.pop();
      if (!alive[top.pos]) continue;
      const right = next[top.pos] as number;
      if (right === -1) continue;
      const left = symbols[top.pos] as string;
      const r = symbols[right] as string;
      // A stale entry still applies when the current pair is a merge producing the same
      // token: tokenizers checks the new id, not the rank, and so do we.
      if (left + r !== top.merged || this.rank(left, r) === undefined) continue;
      symbols[top.pos] = top.merged;
      alive[right] = 0;
      const after = next[right] as number;
      next[top.pos] = after;
      if (after !== -1) prev[after] = top.pos;
      const before = prev[top.pos] as number;
      if (before !== -1) offer(before);
      offer(top.pos);
    }
    const out: string[] = [];
    for (let i = 0; i !== -1; i = next[i] as number) out.push(symbols[i] as string);
    return out;
  }
}
