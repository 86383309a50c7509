// Python's str.lower() and str.strip() for the prompt preprocessing SanaPipeline does
// (`prompt.lower().strip()`), so prompts tokenise to the same ids as in the reference.

// str.strip() with no argument removes the characters for which str.isspace() is true:
// Unicode White_Space-like characters plus the ASCII separators U+001C..U+001F and NEL.
// JavaScript's trim() differs (it strips U+FEFF, keeps U+001C..U+001F and U+0085).
const PYTHON_WHITESPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002,
  0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Python's str.isspace() for one code point. */
export function isPythonSpace(codePoint: number): boolean {
  return PYTHON_WHITESPACE.has(codePoint);
}

/** Python's str.strip() without arguments. All its characters are in the BMP. */
export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PYTHON_WHITESPACE.has(text.charCodeAt(start))) start++;
  while (end > start && PYTHON_WHITESPACE.has(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/**
 * Python's str.lower(). Both it and String.prototype.toLowerCase apply the Unicode full
 * lowercase mappings with the context-dependent final sigma and no locale, so they agree on
 * every character both Unicode databases know; a character newer than the running Python's
 * Unicode version is lowered here and left alone there (test data records both versions).
 */
export function pythonLower(text: string): string {
  return text.toLowerCase();
}
