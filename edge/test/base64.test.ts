import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../src/encoding/base64.js";

const ascii = (text: string) => new TextEncoder().encode(text);

describe("encodeBase64", () => {
  it("matches the RFC 4648 test vectors, padding included", () => {
    const vectors: Array<[string, string]> = [
      ["", ""],
      ["f", "Zg=="],
      ["fo", "Zm8="],
      ["foo", "Zm9v"],
      ["foob", "Zm9vYg=="],
      ["fooba", "Zm9vYmE="],
      ["foobar", "Zm9vYmFy"],
    ];
    for (const [input, expected] of vectors) expect(encodeBase64(ascii(input))).toBe(expected);
  });

  it("uses + and / for the top of the alphabet", () => {
    expect(encodeBase64(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe("+/+/");
  });

  it("agrees with Node's encoder on every length around its internal piece boundary", () => {
    const bytes = Uint8Array.from({ length: 3 * 4096 * 2 + 2 }, (_, i) => (i * 131 + 7) & 0xff);
    for (const length of [1, 2, 3, 4095, 3 * 4096 - 1, 3 * 4096, 3 * 4096 + 1, 3 * 4096 * 2 + 2]) {
      const slice = bytes.subarray(0, length);
      expect(encodeBase64(slice), `length ${length}`).toBe(Buffer.from(slice).toString("base64"));
    }
  });

  it("encodes a view without reading outside it", () => {
    const backing = ascii("xxfooxx");
    expect(encodeBase64(backing.subarray(2, 5))).toBe("Zm9v");
  });

  it("encodes a 3.5 MiB image like Node does", () => {
    const big = Uint8Array.from({ length: 3.5 * 1024 * 1024 }, (_, i) => (i ^ (i >>> 9)) & 0xff);
    expect(encodeBase64(big) === Buffer.from(big).toString("base64")).toBe(true);
  });
});
