import { Hono } from "hono";
import { errorResponse, notFound } from "./api/errors.js";
import { imageFile } from "./api/image-file.js";
import { imagesGenerations } from "./api/images-generations.js";
import { listModels } from "./api/models.js";
import type { AppEnv } from "./app-env.js";
import { requireApiKey } from "./auth/require-api-key.js";

// The public API: OpenAI's Images API (generations, models) plus GET /v1/images/{id}. Errors
// of every route leave in OpenAI's shape.

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => c.text("ok"));
  app.get("/v1/images/:id", imageFile);
  app.use("/v1/*", requireApiKey());
  app.post("/v1/images/generations", imagesGenerations);
  app.get("/v1/models", listModels);
  app.notFound(() => errorResponse(notFound("Unknown route; see /v1/images/generations and /v1/models")));
  app.onError((error) => errorResponse(error));
  return app;
}
