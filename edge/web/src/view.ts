import type { Completed, OutputFormat, PartialImage, Progress, Queued } from "./api.js";
import { byId, setText } from "./dom.js";

// The result side of the page: status (a live region), progress, previews, the final image and
// errors. It knows nothing of fetch; main.ts feeds it events.

const STAGES: Record<string, string> = {
  encoding_prompt: "Encoding the prompt",
  denoising: "Denoising",
  decoding: "Decoding",
  encoding_image: "Encoding the image",
};

function dataUrl(format: OutputFormat, b64: string): string {
  return `data:image/${format};base64,${b64}`;
}

function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export class View {
  readonly generate = byId("generate", HTMLButtonElement);
  readonly cancel = byId("cancel", HTMLButtonElement);
  readonly reuseSeed = byId("reuse-seed", HTMLButtonElement);
  readonly #status = byId("status", HTMLElement);
  readonly #progress = byId("progress", HTMLProgressElement);
  readonly #progressText = byId("progress-text", HTMLElement);
  readonly #error = byId("error", HTMLElement);
  readonly #preview = byId("preview", HTMLImageElement);
  readonly #previews = byId("previews", HTMLElement);
  readonly #final = byId("final", HTMLImageElement);
  readonly #meta = byId("result-meta", HTMLElement);
  readonly #seed = byId("seed-used", HTMLElement);
  readonly #download = byId("download", HTMLAnchorElement);
  #downloadUrl: string | undefined;
  #seedValue = "";

  /** The seed of the last completed image, as the edge reported it. */
  get seed(): string {
    return this.#seedValue;
  }

  /** A new generation: everything of the previous one goes. */
  started(width: number, height: number): void {
    // The box has the final size from the start: previews (smaller) scale into it, nothing jumps.
    for (const image of [this.#preview, this.#final]) {
      image.width = width;
      image.height = height;
    }
    this.#setBusy(true);
    this.#clearError();
    this.#preview.hidden = true;
    this.#preview.removeAttribute("src");
    this.#previews.replaceChildren();
    this.#final.hidden = true;
    this.#final.removeAttribute("src");
    this.#meta.hidden = true;
    if (this.#downloadUrl !== undefined) URL.revokeObjectURL(this.#downloadUrl);
    this.#downloadUrl = undefined;
    this.#download.removeAttribute("href");
    this.#progress.hidden = false;
    this.#progress.removeAttribute("value");
    setText(this.#progressText, "");
    setText(this.#status, "Sending the request…");
  }

  queued(event: Queued): void {
    const ahead = event.position === 0 ? "next in line" : `${event.position} ahead`;
    const wait = event.estimated_wait_ms > 0 ? `, about ${seconds(event.estimated_wait_ms)}` : "";
    setText(this.#status, `Queued: ${ahead}${wait}`);
    this.#progress.removeAttribute("value");
  }

  progress(event: Progress): void {
    const stage = STAGES[event.stage] ?? "Working";
    // The live region announces stages; steps tick in the progress text, which is not announced.
    setText(this.#status, `${stage}…`);
    if (event.total_steps > 0) {
      this.#progress.max = event.total_steps;
      this.#progress.value = Math.min(event.step, event.total_steps);
      setText(
        this.#progressText,
        `${stage}: step ${event.step}/${event.total_steps} · ${seconds(event.elapsed_ms)}`,
      );
    } else {
      setText(this.#progressText, `${stage} · ${seconds(event.elapsed_ms)}`);
    }
  }

  partialImage(event: PartialImage): void {
    const url = dataUrl(event.output_format, event.b64_json);
    const number = event.partial_image_index + 1;
    this.#preview.src = url;
    this.#preview.alt = `Preview ${number}, still being generated`;
    this.#preview.hidden = false;
    const thumbnail = new Image();
    thumbnail.src = url;
    thumbnail.alt = `Preview ${number}`;
    thumbnail.dataset.previewIndex = String(event.partial_image_index);
    this.#previews.append(thumbnail);
  }

  completed(event: Completed, prompt: string, elapsedMs: number): void {
    this.#seedValue = String(event.seed);
    this.#final.src = dataUrl(event.output_format, event.b64_json);
    this.#final.alt = `Generated image for: ${prompt}`;
    this.#final.hidden = false;
    this.#preview.hidden = true;
    const blob = new Blob([base64Bytes(event.b64_json)], { type: `image/${event.output_format}` });
    this.#downloadUrl = URL.createObjectURL(blob);
    this.#download.href = this.#downloadUrl;
    this.#download.download = `sana-${this.#seedValue}.${event.output_format}`;
    setText(this.#seed, this.#seedValue);
    this.#meta.hidden = false;
    this.#progress.max = 1;
    this.#progress.value = 1;
    setText(this.#progressText, `${event.size} · ${seconds(elapsedMs)}`);
    setText(this.#status, `Done in ${seconds(elapsedMs)}. Seed ${this.#seedValue}.`);
  }

  cancelled(): void {
    this.#endProgress();
    setText(this.#status, "Cancelled");
  }

  failed(message: string): void {
    this.#endProgress();
    setText(this.#status, "Failed");
    setText(this.#error, message);
    this.#error.hidden = false;
  }

  /** The generation is over, however it ended. */
  finished(): void {
    this.#setBusy(false);
  }

  #endProgress(): void {
    this.#progress.hidden = true;
    setText(this.#progressText, "");
  }

  #clearError(): void {
    this.#error.hidden = true;
    setText(this.#error, "");
  }

  #setBusy(busy: boolean): void {
    // A button that becomes disabled drops the keyboard focus; hand it to the one that takes over.
    const [from, to] = busy ? [this.generate, this.cancel] : [this.cancel, this.generate];
    const hadFocus = document.activeElement === from;
    to.disabled = false;
    from.disabled = true;
    if (hadFocus) to.focus();
  }
}
