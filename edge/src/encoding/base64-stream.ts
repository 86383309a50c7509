import { encodeBase64Bytes } from "./base64.js";

// Base64 of a byte stream, piece by piece (as ASCII bytes, ready for a body): a 4096² PNG is tens of megabytes, its base64 a third
// more, and a Worker has 128 MB. Bytes that do not fill a 3-byte group wait for the next piece,
// so only the very end is padded.

export async function* base64Pieces(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let carry = new Uint8Array(0);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const joined = carry.length === 0 ? value : concat(carry, value);
      const whole = joined.length - (joined.length % 3);
      if (whole > 0) yield encodeBase64Bytes(joined.subarray(0, whole));
      carry = joined.slice(whole);
    }
    if (carry.length > 0) yield encodeBase64Bytes(carry);
  } finally {
    reader.releaseLock();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
