// diffusers writes its config files with Python's json module, which emits the
// non-standard tokens NaN, Infinity and -Infinity (e.g. "lambda_min_clipped":
// -Infinity in DPMSolverMultistepScheduler's config). JSON.parse rejects them, so
// they are swapped for marker strings outside of string literals and turned back
// into numbers by a reviver.

/** A JSON value as Python's json module writes it, numbers possibly non-finite. */
export type PythonJsonValue = null | boolean | number | string | PythonJsonValue[] | PythonJsonObject;
/** A JSON object as Python's json module writes it. */
export interface PythonJsonObject {
  [key: string]: PythonJsonValue;
}

// JSON text can only carry a NUL escaped, so the marker is written escaped and
// reaches the reviver as a real NUL, which no config string starts with.
const MARKER = "\u0000py-json:";
const ESCAPED_MARKER = "\\u0000py-json:";
const TOKENS: ReadonlyArray<readonly [string, number]> = [
  ["-Infinity", Number.NEGATIVE_INFINITY],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["NaN", Number.NaN],
];

/**
 * Parses `text` like JSON.parse, additionally accepting Python's NaN, Infinity
 * and -Infinity. `source` names the file in error messages.
 */
export function parsePythonJson(text: string, source: string): PythonJsonValue {
  let out = "";
  let copiedUpTo = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      i = endOfString(text, i);
      continue;
    }
    const token = TOKENS.find(([name]) => text.startsWith(name, i));
    if (token !== undefined) {
      out += `${text.slice(copiedUpTo, i)}"${ESCAPED_MARKER}${token[0]}"`;
      i += token[0].length;
      copiedUpTo = i;
      continue;
    }
    i++;
  }
  out += text.slice(copiedUpTo);
  try {
    return JSON.parse(out, (_key, value: unknown) => {
      if (typeof value === "string" && value.startsWith(MARKER)) {
        const name = value.slice(MARKER.length);
        return TOKENS.find(([token]) => token === name)?.[1];
      }
      return value;
    }) as PythonJsonValue;
  } catch (error) {
    throw new SyntaxError(`${source}: not valid JSON: ${(error as Error).message}`);
  }
}

/** Index just past the string literal that starts with the quote at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\") i += 2;
    else if (ch === '"') return i + 1;
    else i++;
  }
  return i;
}
