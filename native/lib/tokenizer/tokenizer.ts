// A tokenizer.json (Hugging Face tokenizers format) restricted to what Gemma's tokenizers
// use, computed exactly as the Rust library does: added tokens cut out first, the rest
// normalised, pre-tokenised and BPE-encoded, then the post-processor's special tokens.
import { readFileSync } from "node:fs";
import { type AddedToken, AddedTokenMatcher, readAddedTokens } from "./added-tokens.js";
import { BpeModel } from "./bpe.js";
import { Fields } from "./json-fields.js";
import { buildNormalizer, type Normalizer } from "./normalizer.js";
import { buildPreTokenizer, type PreTokenizer } from "./pre-tokenizer.js";

export interface EncodeOptions {
  /** Apply the post-processor's template (Gemma: <bos> first). Default true. */
  addSpecialTokens?: boolean;
}

// TemplateProcessing's "single" template: special ids before and after sequence A.
interface SingleTemplate {
  prefix: number[];
  suffix: number[];
}

function readTemplate(spec: Fields | null): SingleTemplate {
  const template: SingleTemplate = { prefix: [], suffix: [] };
  if (spec === null) return template;
  spec.type(["TemplateProcessing"] as const);
  const specials: Fields = spec.object("special_tokens");
  let seenSequence = false;
  for (const item of spec.objects("single")) {
    if (item.has("Sequence")) {
      if (item.object("Sequence").string("id") !== "A") item.fail(`"${item.path}" must name sequence "A"`);
      if (seenSequence) item.fail(`"${item.path}": the single template holds sequence A twice`);
      seenSequence = true;
    } else if (item.has("SpecialToken")) {
      const name = item.object("SpecialToken").string("id");
      if (!specials.has(name))
        item.fail(`"${item.path}" names special token "${name}" missing from special_tokens`);
      const ids = specials.object(name).array("ids");
      for (const id of ids) {
        if (typeof id !== "number" || !Number.isInteger(id)) {
          specials.fail(`"${specials.where(name)}.ids" must be integers`);
        }
        (seenSequence ? template.suffix : template.prefix).push(id);
      }
    } else {
      item.fail(`"${item.path}" must be a Sequence or a SpecialToken`);
    }
  }
  if (!seenSequence) spec.fail(`"${spec.where("single")}" never places sequence A`);
  return template;
}

export class Tokenizer {
  private readonly model: BpeModel;
  private readonly normalize: Normalizer;
  private readonly preTokenize: PreTokenizer;
  private readonly rawMatcher = new AddedTokenMatcher();
  private readonly normalizedMatcher = new AddedTokenMatcher();
  private readonly template: SingleTemplate;
  readonly addedTokens: readonly AddedToken[];
  private idToToken: Map<number, string> | null = null;

  /** `json` is a parsed tokenizer.json; `origin` names it in error messages. */
  constructor(json: unknown, origin = "tokenizer.json") {
    const root = Fields.root(json, origin);
    // "truncation" and "padding" are ignored: transformers overrides both on every call and
    // prompt preparation (prompt.ts) pads and truncates itself.
    this.model = new BpeModel(root.object("model"));
    this.normalize = buildNormalizer(root.optionalObject("normalizer"));
    this.preTokenize = buildPreTokenizer(root.optionalObject("pre_tokenizer"));
    this.template = readTemplate(root.optionalObject("post_processor"));
    this.addedTokens = root.has("added_tokens") ? readAddedTokens(root.objects("added_tokens")) : [];
    for (const t of this.addedTokens)
      (t.normalized ? this.normalizedMatcher : this.rawMatcher).add(t.content, t.id);
  }

  // Built on first use: only decoding-side helpers need it, and it costs 256k map entries.
  private reverseVocab(): Map<number, string> {
    if (this.idToToken === null) {
      this.idToToken = new Map();
      for (const [token, id] of this.model.vocab) this.idToToken.set(id, token);
      for (const t of this.addedTokens) this.idToToken.set(t.id, t.content);
    }
    return this.idToToken;
  }

  static fromFile(path: string): Tokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot read tokenizer ${path}: ${reason}`);
    }
    return new Tokenizer(json, path);
  }

  /** Vocabulary entries including added tokens. */
  get vocabSize(): number {
    return this.reverseVocab().size;
  }

  get mergeCount(): number {
    return this.model.mergeCount;
  }

  /** Special ids encode() adds around one sequence (Gemma: 1, the <bos>). */
  get specialTokenCount(): number {
    return this.template.prefix.length + this.template.suffix.length;
  }

  tokenToId(token: string): number | undefined {
    return this.addedTokens.find((t) => t.content === token)?.id ?? this.model.tokenToId(token);
  }

  idToTokenString(id: number): string | undefined {
    return this.reverseVocab().get(id);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    for (const piece of this.rawMatcher.split(text)) {
      if (piece.id !== undefined) {
        ids.push(piece.id);
        continue;
      }
      for (const part of this.normalizedMatcher.split(this.normalize(piece.text))) {
        if (part.id !== undefined) ids.push(part.id);
        else for (const word of this.preTokenize(part.text)) this.model.encodeWord(word, ids);
      }
    }
    return options.addSpecialTokens === false ? ids : this.withSpecialTokens(ids);
  }

  /** The post-processor's template around already-encoded content ids. */
  withSpecialTokens(ids: readonly number[]): number[] {
    return [...this.template.prefix, ...ids, ...this.template.suffix];
  }
}
