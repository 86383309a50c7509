// Standard base64 (RFC 4648 §4, with padding) in plain ECMAScript: Workers have no
// Buffer, and btoa needs a "binary string" copy of the whole input first.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const CODES = Uint8Array.from(ALPHABET, (ch) => ch.charCodeAt(0));
const PAD = "=".charCodeAt(0);
/** Input bytes per String.fromCharCode call: a multiple of 3, so only the final piece pads. */
const PIECE_BYTES = 3 * 4096;

/** Encodes `bytes` as standard padded base64. */
export function encodeBase64(bytes: Uint8Array): string {
  const pieces: string[] = [];
  const out = new Uint8Array((PIECE_BYTES / 3) * 4);
  for (let start = 0; start < bytes.length; start += PIECE_BYTES) {
    const end = Math.min(start + PIECE_BYTES, bytes.length);
    let o = 0;
    let i = start;
    for (; i + 2 < end; i += 3) {
      const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
      out[o++] = CODES[n >>> 18] ?? PAD;
      out[o++] = CODES[(n >>> 12) & 63] ?? PAD;
      out[o++] = CODES[(n >>> 6) & 63] ?? PAD;
      out[o++] = CODES[n & 63] ?? PAD;
    }
    const rest = end - i;
    if (rest > 0) {
      const n = ((bytes[i] ?? 0) << 16) | (rest === 2 ? (bytes[i + 1] ?? 0) << 8 : 0);
      out[o++] = CODES[n >>> 18] ?? PAD;
      out[o++] = CODES[(n >>> 12) & 63] ?? PAD;
      out[o++] = rest === 2 ? (CODES[(n >>> 6) & 63] ?? PAD) : PAD;
      out[o++] = PAD;
    }
    pieces.push(String.fromCharCode(...out.subarray(0, o)));
  }
  return pieces.join("");
}
