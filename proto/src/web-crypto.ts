// The contract helpers run in Node (sidecar) and in Workers (edge). Both expose
// WebCrypto as `globalThis.crypto`; declaring only the one method used keeps this
// package free of Node and DOM type libraries, so nothing Node-only can slip in.
interface DigestOnlySubtleCrypto {
  digest(algorithm: "SHA-256", data: Uint8Array): Promise<ArrayBuffer>;
}

declare const crypto: { readonly subtle: DigestOnlySubtleCrypto };

/** SHA-256 of `data` (32 bytes), computed by the platform's WebCrypto. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/** Lower-case hex of `bytes`, e.g. for content addresses and log lines. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
