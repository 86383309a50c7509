// API keys: `sk-sana-<id>.<secret>`. KV holds only a SHA-256 of the secret under "key:<id>", so a leak of the
// namespace (or of a log of its values) gives nobody a usable key. The id makes lookup one KV read; the
// secret is 256 random bits, so a fast unsalted hash is enough (nothing to brute-force).
// Only Web APIs (crypto, btoa, TextEncoder) are used: the key CLI runs this module in Node too.
import { z } from "zod";
import { unauthorized } from "../api/errors.js";

export const API_KEY_PREFIX = "sk-sana-";
const ID_BYTES = 9; // 12 base64url characters
const SECRET_BYTES = 32; // 43 base64url characters
export const API_KEY_ID_PATTERN = /^[A-Za-z0-9_-]{12}$/;
const API_KEY_PATTERN = /^sk-sana-([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{43})$/;
const BEARER_PATTERN = /^Bearer[ \t]+(\S+)[ \t]*$/i;

// One message for every failure, so a caller cannot tell an unknown id from a wrong secret.
export const INVALID_API_KEY_MESSAGE =
  "Incorrect or missing API key. Send it as 'Authorization: Bearer sk-sana-...'.";

const keyRecordSchema = z.object({
  id: z.string().regex(API_KEY_ID_PATTERN),
  name: z.string(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  rpm: z.int().positive().optional(),
  concurrency: z.int().positive().optional(),
});

/** The KV value stored under "key:<id>". */
export interface KeyRecord {
  readonly id: string;
  /** Who the key was issued to; for operators only. */
  readonly name: string;
  /** Lower-case hex SHA-256 of the secret's UTF-8 text. */
  readonly hash: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** Requests per minute; the worker's RATE_LIMIT_RPM when absent. */
  readonly rpm?: number;
  /** Requests in flight at once; the worker's RATE_LIMIT_CONCURRENCY when absent. */
  readonly concurrency?: number;
}

export interface CreateApiKeyOptions {
  readonly rpm?: number;
  readonly concurrency?: number;
  /** For reproducible records in tests. */
  readonly now?: Date;
}

export interface CreatedApiKey {
  /** Shown to its owner once; not recoverable from the record. */
  readonly key: string;
  readonly record: KeyRecord;
}

/** The KV key of a record. */
export function keyRecordKvKey(id: string): string {
  return `key:${id}`;
}

/** Generates a new key and the record to store for it; storing it is the caller's job. */
export async function createApiKey(name: string, options: CreateApiKeyOptions = {}): Promise<CreatedApiKey> {
  if (name.trim() === "") throw new RangeError("an API key needs a non-empty name");
  checkLimit("rpm", options.rpm);
  checkLimit("concurrency", options.concurrency);
  const id = randomBase64Url(ID_BYTES);
  const secret = randomBase64Url(SECRET_BYTES);
  const record: KeyRecord = {
    id,
    name,
    hash: await hashSecret(secret),
    createdAt: (options.now ?? new Date()).toISOString(),
    ...(options.rpm === undefined ? {} : { rpm: options.rpm }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  };
  return { key: `${API_KEY_PREFIX}${id}.${secret}`, record };
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

/** Splits a key into id and secret; undefined when it is not shaped like one of ours. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const match = API_KEY_PATTERN.exec(key);
  return match?.[1] && match[2] ? { id: match[1], secret: match[2] } : undefined;
}

/**
 * The record of the key in an `Authorization: Bearer <key>` header. Throws ApiError 401 with one message
 * for a missing or malformed header, an unknown id and a wrong secret; a stored record that does not parse
 * is an operator error and throws a plain Error (a 500).
 */
export async function verifyApiKey(kv: KVNamespace, authorizationHeader: string | null): Promise<KeyRecord> {
  const presented = parseApiKey(BEARER_PATTERN.exec(authorizationHeader ?? "")?.[1] ?? "");
  if (presented === undefined) throw unauthorized(INVALID_API_KEY_MESSAGE);
  const [digest, stored] = await Promise.all([
    sha256(presented.secret),
    kv.get(keyRecordKvKey(presented.id), "text"),
  ]);
  const record = stored === null ? undefined : parseKeyRecord(stored, presented.id);
  // Compare even for an unknown id, so its answer takes as long as a wrong secret's.
  const expected = record === undefined ? new Uint8Array(digest.byteLength) : fromHex(record.hash);
  const matches = crypto.subtle.timingSafeEqual(digest, expected);
  if (!matches || record === undefined) throw unauthorized(INVALID_API_KEY_MESSAGE);
  return record;
}

/** Parses and checks a stored record; throws Error when it is corrupt or filed under another id. */
export function parseKeyRecord(json: string, id: string): KeyRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error(`KV record ${keyRecordKvKey(id)} is not JSON`);
  }
  const result = keyRecordSchema.safeParse(value);
  if (!result.success || result.data.id !== id) throw new Error(`KV record ${keyRecordKvKey(id)} is corrupt`);
  const { rpm, concurrency, ...required } = result.data;
  return {
    ...required,
    ...(rpm === undefined ? {} : { rpm }),
    ...(concurrency === undefined ? {} : { concurrency }),
  };
}

/** Lower-case hex SHA-256 of a secret, as stored in KeyRecord.hash. */
export async function hashSecret(secret: string): Promise<string> {
  return toHex(await sha256(secret));
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

function randomBase64Url(byteCount: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(byteCount));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
