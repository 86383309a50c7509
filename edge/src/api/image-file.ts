import type { Context } from "hono";
import type { AppEnv } from "../app-env.js";
import { generationDeps } from "../generation/deps.js";
import { notFound } from "./errors.js";

// GET /v1/images/{id}: a generated image by its sha256. The id is unguessable (256 bits) and
// names immutable content, so the URL needs no key and may be cached forever anywhere.

const ID_PATTERN = /^[0-9a-f]{64}$/;

export async function imageFile(c: Context<AppEnv>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  if (!ID_PATTERN.test(id)) throw notFound("No such image: ids are 64 lowercase hex digits", "id");
  const { store } = generationDeps(c.env, (work) => c.executionCtx.waitUntil(work));
  if (c.req.header("if-none-match") === `"${id}"`) return new Response(null, { status: 304 });
  const opened = await store.open(id);
  if (opened === undefined) throw notFound(`No image with id ${id}`, "id");
  return new Response(opened.body, { headers: store.headersFor(opened.image) });
}
