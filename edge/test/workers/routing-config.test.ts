import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { PoolConfigError, parsePoolConfig } from "../../src/routing/index.js";

function errorOf(text: string): PoolConfigError {
  try {
    parsePoolConfig(text);
  } catch (error) {
    if (error instanceof PoolConfigError) return error;
    throw error;
  }
  throw new Error("parsePoolConfig accepted the configuration");
}

describe("parsePoolConfig", () => {
  it("accepts the wrangler.toml pool", () => {
    expect(parsePoolConfig(env.SIDECARS)).toEqual([{ id: "local", url: "http://127.0.0.1:50051" }]);
  });

  it("keeps a model allow-list and leaves models absent (not undefined) without one", () => {
    const pool = parsePoolConfig(
      '[{"id":"a","url":"https://a.example:443","models":["tiny-sana"]},{"id":"b","url":"http://10.0.0.2:50051"}]',
    );
    expect(pool).toEqual([
      { id: "a", url: "https://a.example:443", models: ["tiny-sana"] },
      { id: "b", url: "http://10.0.0.2:50051" },
    ]);
    expect("models" in (pool[1] ?? {})).toBe(false);
  });

  it("rejects text that is not JSON", () => {
    expect(errorOf("[{id:1}]").message).toMatch(/^SIDECARS is not valid JSON: /);
  });

  it("rejects a pool that is not an array, or is empty", () => {
    expect(errorOf('{"id":"a"}').message).toBe(
      "SIDECARS is invalid: SIDECARS: must be a JSON array of sidecars",
    );
    expect(errorOf("[]").message).toBe("SIDECARS is invalid: SIDECARS: must list at least one sidecar");
  });

  it("rejects urls that are not http(s), naming the entry", () => {
    expect(errorOf('[{"id":"a","url":"http://a:1"},{"id":"b","url":"ftp://b"}]').message).toBe(
      "SIDECARS is invalid: SIDECARS[1].url: must be an http:// or https:// URL",
    );
    expect(errorOf('[{"id":"a","url":"not a url"}]').message).toContain("SIDECARS[0].url");
  });

  it("rejects missing or malformed ids", () => {
    expect(errorOf('[{"url":"http://a:1"}]').message).toContain("SIDECARS[0].id: must be a string");
    expect(errorOf('[{"id":"","url":"http://a:1"}]').message).toContain("SIDECARS[0].id: must be 1-64");
    expect(errorOf('[{"id":"a b","url":"http://a:1"}]').message).toContain("SIDECARS[0].id");
  });

  it("rejects duplicate ids", () => {
    const text =
      '[{"id":"a","url":"http://a:1"},{"id":"a","url":"http://b:1"},{"id":"c","url":"http://c:1"}]';
    expect(errorOf(text).message).toBe('SIDECARS is invalid: duplicate id "a"');
  });

  it("rejects unknown keys, so a typo such as `model` is not silently ignored", () => {
    expect(errorOf('[{"id":"a","url":"http://a:1","model":["x"]}]').message).toContain(
      'SIDECARS[0]: Unrecognized key: "model"',
    );
  });

  it("rejects an empty or non-string model list", () => {
    expect(errorOf('[{"id":"a","url":"http://a:1","models":[]}]').message).toContain(
      "SIDECARS[0].models: must list at least one model when present",
    );
    expect(errorOf('[{"id":"a","url":"http://a:1","models":[""]}]').message).toContain(
      "SIDECARS[0].models[0]: must not be empty",
    );
    expect(errorOf('[{"id":"a","url":"http://a:1","models":"tiny"}]').message).toContain(
      "SIDECARS[0].models: must be an array",
    );
  });

  it("reports every problem at once", () => {
    const message = errorOf('[{"id":"a","url":"ftp://a"},{"url":"http://b:1"}]').message;
    expect(message).toContain("SIDECARS[0].url");
    expect(message).toContain("SIDECARS[1].id");
  });
});
