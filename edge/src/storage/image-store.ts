import {
  type AssembledImage,
  formatNameOfMime,
  type ImageFormatName,
  imageFormatName,
  toHex,
} from "@sana-edge/proto";

// Where generated images live: R2 holds every image by content ("images/<sha256>") and every
// cacheable result ("results/<cache key>" -> the image it produced); the Cache API keeps both
// close to the users of each location. Lookups go Cache API first, then R2.

/** A generated image as the API hands it out; its sha256 is its id. */
export interface StoredImage {
  readonly id: string;
  readonly mime: string;
  readonly format: ImageFormatName;
  readonly width: number;
  readonly height: number;
  /** Decimal: seeds are uint64. */
  readonly seed: string;
  readonly bytes: number;
}

export interface OpenedImage {
  readonly image: StoredImage;
  readonly body: ReadableStream<Uint8Array>;
}

/** Cache API keys must be GET URLs; this host is never fetched. */
const CACHE_ORIGIN = "https://cache.sana-edge.internal";
/** Images and results never change: their names are hashes of their content or of their inputs. */
export const IMMUTABLE = "public, max-age=31536000, immutable";

const imageKey = (id: string) => `images/${id}`;
const resultKey = (key: string) => `results/${key}`;

/** A StoredImage from what R2 metadata or cached headers record (both use the same field names). */
function describe(
  id: string,
  mime: string | undefined,
  bytes: number,
  field: (name: string) => string | undefined,
): StoredImage {
  const type = mime ?? "application/octet-stream";
  return {
    id,
    mime: type,
    format: formatNameOfMime(type) ?? "png",
    width: Number(field("width") ?? 0),
    height: Number(field("height") ?? 0),
    seed: field("seed") ?? "0",
    bytes,
  };
}

function metadataOf(id: string, object: R2Object): StoredImage {
  const meta = object.customMetadata ?? {};
  return describe(id, object.httpMetadata?.contentType, object.size, (name) => meta[name]);
}

function imageHeaders(image: StoredImage): Headers {
  return new Headers({
    "content-type": image.mime,
    "content-length": String(image.bytes),
    "cache-control": IMMUTABLE,
    etag: `"${image.id}"`,
    "x-sana-width": String(image.width),
    "x-sana-height": String(image.height),
    "x-sana-seed": image.seed,
  });
}

function fromCachedHeaders(id: string, headers: Headers): StoredImage {
  const bytes = Number(headers.get("content-length") ?? 0);
  return describe(
    id,
    headers.get("content-type") ?? undefined,
    bytes,
    (name) => headers.get(`x-sana-${name}`) ?? undefined,
  );
}

export class ImageStore {
  constructor(
    private readonly bucket: R2Bucket,
    private readonly cache: Cache,
    /** Keeps background cache writes alive after the response (ExecutionContext.waitUntil). */
    private readonly waitUntil: (work: Promise<unknown>) => void,
  ) {}

  /** Stores an assembled image under its sha256 and describes it. */
  async put(image: AssembledImage): Promise<StoredImage> {
    const id = toHex(image.header.sha256);
    const stored: StoredImage = {
      id,
      mime: image.header.mime,
      format: imageFormatName(image.header.format),
      width: image.header.width,
      height: image.header.height,
      seed: image.header.seed.toString(),
      bytes: image.data.length,
    };
    await this.bucket.put(imageKey(id), image.data, {
      httpMetadata: { contentType: stored.mime, cacheControl: IMMUTABLE },
      customMetadata: {
        format: stored.format,
        width: String(stored.width),
        height: String(stored.height),
        seed: stored.seed,
      },
      sha256: id,
    });
    return stored;
  }

  /** Records that the request with cache key `key` produced `image`. */
  async putResult(key: string, image: StoredImage): Promise<void> {
    const record = JSON.stringify(image);
    await this.bucket.put(resultKey(key), record, { httpMetadata: { contentType: "application/json" } });
    this.waitUntil(this.cache.put(this.cacheUrl(resultKey(key)), this.cachedJson(record)));
  }

  /** The image a cache key produced before, if any. */
  async findResult(key: string): Promise<StoredImage | undefined> {
    const url = this.cacheUrl(resultKey(key));
    const cached = await this.cache.match(url);
    if (cached !== undefined) return (await cached.json()) as StoredImage;
    const object = await this.bucket.get(resultKey(key));
    if (object === null) return undefined;
    const record = await object.text();
    this.waitUntil(this.cache.put(url, this.cachedJson(record)));
    return JSON.parse(record) as StoredImage;
  }

  /** The bytes of image `id` as a stream, from this location's cache or from R2. */
  async open(id: string): Promise<OpenedImage | undefined> {
    const url = this.cacheUrl(imageKey(id));
    const cached = await this.cache.match(url);
    if (cached?.body) return { image: fromCachedHeaders(id, cached.headers), body: cached.body };
    const object = await this.bucket.get(imageKey(id));
    if (object === null) return undefined;
    const image = metadataOf(id, object);
    const [forCaller, forCache] = object.body.tee();
    this.waitUntil(this.cache.put(url, new Response(forCache, { headers: imageHeaders(image) })));
    return { image, body: forCaller };
  }

  headersFor(image: StoredImage): Headers {
    return imageHeaders(image);
  }

  private cacheUrl(path: string): string {
    return `${CACHE_ORIGIN}/${path}`;
  }

  private cachedJson(record: string): Response {
    return new Response(record, {
      headers: { "content-type": "application/json", "cache-control": IMMUTABLE },
    });
  }
}
