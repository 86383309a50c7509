import { env } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/api/errors.js";
import {
  createApiKey,
  hashSecret,
  INVALID_API_KEY_MESSAGE,
  type KeyRecord,
  keyRecordKvKey,
  parseApiKey,
  verifyApiKey,
} from "../../src/auth/api-keys.js";
import { type ApiKeyEnv, requireApiKey } from "../../src/auth/require-api-key.js";

async function storedKey(name = "test", options: { rpm?: number; concurrency?: number } = {}) {
  const created = await createApiKey(name, options);
  await env.KEYS.put(keyRecordKvKey(created.record.id), JSON.stringify(created.record));
  return created;
}

function parts(key: string): { id: string; secret: string } {
  const parsed = parseApiKey(key);
  if (parsed === undefined) throw new Error(`not a key: ${key}`);
  return parsed;
}

async function refusal(header: string | null): Promise<ApiError> {
  try {
    await verifyApiKey(env.KEYS, header);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error(`accepted ${header}`);
}

describe("createApiKey", () => {
  it("issues sk-sana-<12-char id>.<43-char secret> with url-safe characters", async () => {
    const { key, record } = await createApiKey("alice");
    expect(key).toMatch(/^sk-sana-[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/);
    expect(parts(key).id).toBe(record.id);
  });

  it("records the hash of the secret, never the secret", async () => {
    const { key, record } = await createApiKey("alice", { rpm: 30, concurrency: 2, now: new Date(0) });
    const { secret } = parts(key);
    expect(record).toEqual({
      id: parts(key).id,
      name: "alice",
      hash: await hashSecret(secret),
      createdAt: "1970-01-01T00:00:00.000Z",
      rpm: 30,
      concurrency: 2,
    } satisfies KeyRecord);
    expect(JSON.stringify(record)).not.toContain(secret);
  });

  it("leaves per-key limits out unless given", async () => {
    const { record } = await createApiKey("bob");
    expect(Object.keys(record).sort()).toEqual(["createdAt", "hash", "id", "name"]);
  });

  it("never issues the same key twice", async () => {
    const keys = await Promise.all(Array.from({ length: 50 }, () => createApiKey("n")));
    expect(new Set(keys.map(({ key }) => key)).size).toBe(50);
    expect(new Set(keys.map(({ record }) => record.id)).size).toBe(50);
  });

  it("refuses a blank name and non-positive limits", async () => {
    await expect(createApiKey(" ")).rejects.toThrow(RangeError);
    await expect(createApiKey("n", { rpm: 0 })).rejects.toThrow(RangeError);
    await expect(createApiKey("n", { concurrency: 1.5 })).rejects.toThrow(RangeError);
  });
});

describe("verifyApiKey", () => {
  it("accepts a stored key and returns its record", async () => {
    const { key, record } = await storedKey("valid", { rpm: 10 });
    expect(await verifyApiKey(env.KEYS, `Bearer ${key}`)).toEqual(record);
  });

  it("accepts the scheme in any case and surrounding blanks", async () => {
    const { key, record } = await storedKey();
    expect(await verifyApiKey(env.KEYS, `bearer  ${key} `)).toEqual(record);
  });

  it("answers a wrong secret, an unknown id, a malformed and a missing key with the same 401", async () => {
    const { key } = await storedKey();
    const { id, secret } = parts(key);
    const otherSecret = parts((await createApiKey("other")).key).secret;
    const unknownId = parts((await createApiKey("unstored")).key).id;
    const headers: Array<[string, string | null]> = [
      ["wrong secret", `Bearer sk-sana-${id}.${otherSecret}`],
      ["unknown id", `Bearer sk-sana-${unknownId}.${secret}`],
      ["truncated secret", `Bearer sk-sana-${id}.${secret.slice(1)}`],
      ["no prefix", `Bearer ${id}.${secret}`],
      ["other scheme", `Basic ${key}`],
      ["no scheme", key],
      ["two tokens", `Bearer ${key} ${key}`],
      ["empty", ""],
      ["missing", null],
    ];
    for (const [what, header] of headers) {
      const error = await refusal(header);
      expect([error.status, error.code, error.message], what).toEqual([
        401,
        "invalid_api_key",
        INVALID_API_KEY_MESSAGE,
      ]);
    }
  });

  it("stores nothing in KV from which the key could be rebuilt", async () => {
    const { key } = await storedKey();
    const { id, secret } = parts(key);
    const stored = await env.KEYS.get(keyRecordKvKey(id));
    expect(stored).not.toBeNull();
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(key);
  });

  it("fails loudly, not as a 401, when a stored record is corrupt", async () => {
    const { key, record } = await createApiKey("corrupt");
    await env.KEYS.put(keyRecordKvKey(record.id), JSON.stringify({ ...record, hash: "nope" }));
    const error: unknown = await verifyApiKey(env.KEYS, `Bearer ${key}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ApiError);
  });
});

describe("requireApiKey", () => {
  const app = new Hono<ApiKeyEnv>();
  app.use("/v1/*", requireApiKey());
  app.get("/v1/whoami", (c) => c.json({ id: c.var.apiKey.id, name: c.var.apiKey.name }));

  it("lets a valid key through with its record in c.var.apiKey", async () => {
    const { key, record } = await storedKey("carol");
    const response = await app.request("/v1/whoami", { headers: { authorization: `Bearer ${key}` } }, env);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: record.id, name: "carol" });
  });

  it("answers a missing key with OpenAI's 401 body and a Bearer challenge", async () => {
    const response = await app.request("/v1/whoami", {}, env);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(await response.json()).toEqual({
      error: {
        message: INVALID_API_KEY_MESSAGE,
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    });
  });
});
