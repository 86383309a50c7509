// tokenizer.json "normalizer": the text transformations HF tokenizers applies to every piece
// of input that is not an added token, before pre-tokenisation and BPE.
import type { Fields } from "./json-fields.js";

export type Normalizer = (text: string) => string;

const identity: Normalizer = (text) => text;

export function buildNormalizer(spec: Fields | null): Normalizer {
  if (spec === null) return identity;
  switch (spec.type(["Replace", "Prepend", "Sequence", "NFC", "NFD", "NFKC", "NFKD"] as const)) {
    case "Replace": {
      const pattern = spec.stringPattern("pattern");
      const content = spec.string("content");
      return (text) => text.replaceAll(pattern, content);
    }
    case "Prepend": {
      const prefix = spec.string("prepend");
      // HF prepends only to non-empty pieces.
      return (text) => (text === "" ? text : prefix + text);
    }
    case "Sequence": {
      const steps = spec.objects("normalizers").map(buildNormalizer);
      return (text) => steps.reduce((t, step) => step(t), text);
    }
    case "NFC":
      return (text) => text.normalize("NFC");
    case "NFD":
      return (text) => text.normalize("NFD");
    case "NFKC":
      return (text) => text.normalize("NFKC");
    case "NFKD":
      return (text) => text.normalize("NFKD");
  }
}
