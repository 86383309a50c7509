// tokenizer.json "pre_tokenizer": splits a normalised piece into the words BPE sees. Gemma's
// own tokenizer has none; transformers 5 writes a Split on " " (a no-op after the normaliser
// turned spaces into "▁"), implemented here with HF tokenizers' exact delimiter behaviours.
import type { Fields } from "./json-fields.js";

export type PreTokenizer = (text: string) => string[];

type Behavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";

interface Segment {
  start: number;
  end: number;
  match: boolean;
}

function findMatches(text: string, pattern: string): Segment[] {
  const out: Segment[] = [];
  let prev = 0;
  for (let at = text.indexOf(pattern); at !== -1; at = text.indexOf(pattern, at + pattern.length)) {
    if (at > prev) out.push({ start: prev, end: at, match: false });
    out.push({ start: at, end: at + pattern.length, match: true });
    prev = at + pattern.length;
  }
  if (prev < text.length) out.push({ start: prev, end: text.length, match: false });
  return out;
}

// Mirrors tokenizers' NormalizedString::split: which segments survive, merged how.
function applyBehavior(segments: Segment[], behavior: Behavior): Segment[] {
  const out: Segment[] = [];
  let previousMatch = false;
  switch (behavior) {
    case "Removed":
      return segments.filter((s) => !s.match);
    case "Isolated":
      return segments;
    case "MergedWithPrevious":
      for (const s of segments) {
        const last = out[out.length - 1];
        if (s.match && !previousMatch && last !== undefined) last.end = s.end;
        else out.push({ ...s });
        previousMatch = s.match;
      }
      return out;
    case "MergedWithNext":
      for (let i = segments.length - 1; i >= 0; i--) {
        const s = segments[i] as Segment;
        const last = out[out.length - 1];
        if (s.match && !previousMatch && last !== undefined) last.start = s.start;
        else out.push({ ...s });
        previousMatch = s.match;
      }
      return out.reverse();
    case "Contiguous":
      for (const s of segments) {
        const last = out[out.length - 1];
        if (s.match === previousMatch && last !== undefined) last.end = s.end;
        else out.push({ ...s });
        previousMatch = s.match;
      }
      return out;
  }
}

export function buildPreTokenizer(spec: Fields | null): PreTokenizer {
  if (spec === null) return (text) => [text];
  switch (spec.type(["Split", "Sequence"] as const)) {
    case "Split": {
      const pattern = spec.stringPattern("pattern");
      const behavior = spec.oneOf("behavior", [
        "Removed",
        "Isolated",
        "MergedWithPrevious",
        "MergedWithNext",
        "Contiguous",
      ] as const);
      if (spec.boolean("invert", false)) spec.fail(`"${spec.where("invert")}" = true is not supported`);
      return (text) =>
        applyBehavior(findMatches(text, pattern), behavior)
          .filter((s) => s.end > s.start)
          .map((s) => text.slice(s.start, s.end));
    }
    case "Sequence": {
      const steps = spec.objects("pretokenizers").map(buildPreTokenizer);
      return (text) => steps.reduce<string[]>((pieces, step) => pieces.flatMap(step), [text]);
    }
  }
}
