// Standard base64 (RFC 4648 §4, with padding) in plain ECMAScript: Workers have no Buffer, and
// btoa needs a "binary string" copy of the whole input first.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const CODES = Uint8Array.from(ALPHABET, (ch) => ch.charCodeAt(0));
const PAD = "=".charCodeAt(0);
/** Output bytes per String.fromCharCode call: stays far below engines' argument-count limits. */
const CHARS_PER_CALL = 4 * 4096;

/** The base64 of `bytes` as ASCII bytes: what a response body needs, without a string in between. */
export function encodeBase64Bytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  const whole = bytes.length - (bytes.length % 3);
  let o = 0;
  // Every index below is inside both arrays by construction; a `?? 0` per byte would cost a
  // branch in the hottest loop of a 4K response.
  for (let i = 0; i < whole; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out[o++] = CODES[n >>> 18] as number;
    out[o++] = CODES[(n >>> 12) & 63] as number;
    out[o++] = CODES[(n >>> 6) & 63] as number;
    out[o++] = CODES[n & 63] as number;
  }
  const rest = bytes.length - whole;
  if (rest > 0) {
    const n = ((bytes[whole] as number) << 16) | (rest === 2 ? (bytes[whole + 1] as number) << 8 : 0);
    out[o++] = CODES[n >>> 18] as number;
    out[o++] = CODES[(n >>> 12) & 63] as number;
    out[o++] = rest === 2 ? (CODES[(n >>> 6) & 63] as number) : PAD;
    out[o++] = PAD;
  }
  return out;
}

/** Encodes `bytes` as standard padded base64. */
export function encodeBase64(bytes: Uint8Array): string {
  const ascii = encodeBase64Bytes(bytes);
  const pieces: string[] = [];
  for (let start = 0; start < ascii.length; start += CHARS_PER_CALL) {
    pieces.push(String.fromCharCode(...ascii.subarray(start, start + CHARS_PER_CALL)));
  }
  return pieces.join("");
}
