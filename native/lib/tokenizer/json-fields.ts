// Typed reads of tokenizer.json fields: every failure names the file and the field, so a
// malformed or unsupported tokenizer is reported precisely instead of tokenising wrongly.

export type JsonObject = { [key: string]: unknown };

export class TokenizerFormatError extends Error {
  override name = "TokenizerFormatError";
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class Fields {
  constructor(
    readonly origin: string,
    readonly path: string,
    readonly value: JsonObject,
  ) {}

  static root(value: unknown, origin: string): Fields {
    if (!isObject(value))
      throw new TokenizerFormatError(`${origin}: expected a JSON object at the top level`);
    return new Fields(origin, "", value);
  }

  fail(message: string): never {
    throw new TokenizerFormatError(`${this.origin}: ${message}`);
  }

  where(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  object(key: string): Fields {
    const v = this.value[key];
    if (!isObject(v)) this.fail(`"${this.where(key)}" must be an object`);
    return new Fields(this.origin, this.where(key), v);
  }

  optionalObject(key: string): Fields | null {
    return this.has(key) ? this.object(key) : null;
  }

  string(key: string): string {
    const v = this.value[key];
    if (typeof v !== "string") this.fail(`"${this.where(key)}" must be a string`);
    return v;
  }

  optionalString(key: string): string | null {
    return this.has(key) ? this.string(key) : null;
  }

  integer(key: string): number {
    const v = this.value[key];
    if (typeof v !== "number" || !Number.isInteger(v)) this.fail(`"${this.where(key)}" must be an integer`);
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const v = this.value[key];
    if (typeof v !== "boolean") this.fail(`"${this.where(key)}" must be true or false`);
    return v;
  }

  array(key: string): unknown[] {
    const v = this.value[key];
    if (!Array.isArray(v)) this.fail(`"${this.where(key)}" must be an array`);
    return v;
  }

  objects(key: string): Fields[] {
    return this.array(key).map((item, i) => {
      const where = `${this.where(key)}[${i}]`;
      if (!isObject(item)) this.fail(`"${where}" must be an object`);
      return new Fields(this.origin, where, item);
    });
  }

  /** A string field restricted to the values this implementation supports. */
  oneOf<T extends string>(key: string, supported: readonly T[]): T {
    const v = this.string(key);
    if (!(supported as readonly string[]).includes(v)) {
      this.fail(`"${this.where(key)}" = "${v}" is not supported (supported: ${supported.join(", ")})`);
    }
    return v as T;
  }

  /** A component's "type" (normalizer, pre-tokenizer, model, post-processor). */
  type<T extends string>(supported: readonly T[]): T {
    return this.oneOf("type", supported);
  }

  /** A Replace/Split pattern: only literal {"String": ...} patterns are supported (Regex ones
   * use Oniguruma semantics JavaScript cannot reproduce exactly). */
  stringPattern(key: string): string {
    const p = this.object(key);
    if (!p.has("String"))
      p.fail(`"${p.path}" must be a {"String": ...} pattern (Regex patterns are not supported)`);
    const s = p.string("String");
    if (s === "") p.fail(`"${p.where("String")}" must not be empty`);
    return s;
  }
}
