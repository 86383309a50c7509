import type { ImageFormatName } from "@sana-edge/proto";
import type { ApiErrorInit } from "../api/errors.js";
import type { StoredImage } from "../storage/image-store.js";
import type { ProgressPayload, QueuedPayload } from "../upstream/events.js";

// What one image's generation reports to the API layer, whether it ran in this isolate or in
// the coalescing Durable Object (which sends these as JSON lines): plain JSON, the final
// image by reference (it is in R2 before `completed` is sent).

export interface PreviewEvent {
  readonly type: "preview";
  readonly step: number;
  readonly format: ImageFormatName;
  readonly b64_json: string;
  readonly width: number;
  readonly height: number;
}

export interface CompletedEvent {
  readonly type: "completed";
  readonly image: StoredImage;
}

/** The generation failed: the ApiError the client gets, as plain fields. */
export interface FailedEvent {
  readonly type: "failed";
  readonly error: ApiErrorInit;
}

export type GenerationEvent = QueuedPayload | ProgressPayload | PreviewEvent | CompletedEvent | FailedEvent;
