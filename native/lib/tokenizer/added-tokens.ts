// Added tokens (<bos>, <start_of_turn>, Gemma's "\n"-runs and HTML tags, ...) are cut out of
// the text before normalisation and BPE, as HF tokenizers' AddedVocabulary does: matches are
// leftmost-longest (aho-corasick MatchKind::LeftmostLongest), non-overlapping, left to right.
// Tokens with normalized=true are matched the same way on the normalised remainder.
import type { Fields } from "./json-fields.js";

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
}

interface TrieNode {
  next: Map<number, TrieNode>;
  id: number;
}

/** A piece of text: either an added token's id or text left for the model. */
export type Piece = { id: number; text?: undefined } | { id?: undefined; text: string };

export class AddedTokenMatcher {
  private readonly root: TrieNode = { next: new Map(), id: -1 };
  private count = 0;

  add(content: string, id: number): void {
    let node = this.root;
    for (let i = 0; i < content.length; i++) {
      const unit = content.charCodeAt(i);
      let child = node.next.get(unit);
      if (child === undefined) {
        child = { next: new Map(), id: -1 };
        node.next.set(unit, child);
      }
      node = child;
    }
    // The first token with a given content wins, like HF's map from content to id.
    if (node.id === -1) {
      node.id = id;
      this.count++;
    }
  }

  get size(): number {
    return this.count;
  }

  /** Splits `text` into added-token ids and the text between them (never empty). */
  split(text: string): Piece[] {
    if (this.count === 0) return text === "" ? [] : [{ text }];
    const out: Piece[] = [];
    let rest = 0;
    let i = 0;
    while (i < text.length) {
      let node: TrieNode | undefined = this.root;
      let matchEnd = -1;
      let matchId = -1;
      for (let j = i; j < text.length; j++) {
        node = node.next.get(text.charCodeAt(j));
        if (node === undefined) break;
        if (node.id !== -1) {
          matchEnd = j + 1;
          matchId = node.id;
        }
      }
      if (matchEnd === -1) {
        i++;
        continue;
      }
      if (i > rest) out.push({ text: text.slice(rest, i) });
      out.push({ id: matchId });
      rest = i = matchEnd;
    }
    if (rest < text.length) out.push({ text: text.slice(rest) });
    return out;
  }
}

export function readAddedTokens(entries: Fields[]): AddedToken[] {
  return entries.map((e) => {
    // lstrip / rstrip / single_word change where a match may start or end; no Gemma
    // tokenizer uses them, so they are refused rather than approximated.
    for (const flag of ["lstrip", "rstrip", "single_word"]) {
      if (e.boolean(flag, false)) e.fail(`"${e.where(flag)}" = true is not supported`);
    }
    return {
      id: e.integer("id"),
      content: e.string("content"),
      special: e.boolean("special", false),
      normalized: e.boolean("normalized", !e.boolean("special", false)),
    };
  });
}
