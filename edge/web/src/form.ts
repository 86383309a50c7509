import { type GenerationRequest, type Model, OUTPUT_FORMATS, type OutputFormat } from "./api.js";
import { byId, setText } from "./dom.js";

// The generation form: the API key's persistence, the request it describes, and the model list.

const KEY_STORAGE = "sana-edge.api-key";

// Storage throws where it is disabled (some private modes); the key then lives only in the field.
function loadKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? "";
  } catch {
    return "";
  }
}

function storeKey(key: string): void {
  try {
    if (key === "") localStorage.removeItem(KEY_STORAGE);
    else localStorage.setItem(KEY_STORAGE, key);
  } catch {
    // see loadKey
  }
}

function isOutputFormat(value: string): value is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(value);
}

export class GenerationForm {
  readonly element = byId("form", HTMLFormElement);
  readonly key = byId("api-key", HTMLInputElement);
  readonly prompt = byId("prompt", HTMLTextAreaElement);
  readonly #negativePrompt = byId("negative-prompt", HTMLTextAreaElement);
  readonly #width = byId("width", HTMLSelectElement);
  readonly #height = byId("height", HTMLSelectElement);
  readonly #seed = byId("seed", HTMLInputElement);
  readonly #randomSeed = byId("seed-random", HTMLInputElement);
  readonly #steps = byId("steps", HTMLInputElement);
  readonly #guidance = byId("guidance", HTMLInputElement);
  readonly #format = byId("format", HTMLSelectElement);
  readonly #model = byId("model", HTMLSelectElement);
  readonly #modelStatus = byId("model-status", HTMLElement);
  #models: readonly Model[] = [];

  constructor() {
    // "Random" and a typed seed exclude each other; either one alone says what will be sent.
    this.#seed.addEventListener("input", () => {
      this.#randomSeed.checked = this.#seed.value === "";
    });
    this.#randomSeed.addEventListener("change", () => {
      if (this.#randomSeed.checked) this.#seed.value = "";
    });
    this.#model.addEventListener("change", () => this.#modelChosen());
  }

  /** Fills the key from `#key=...` (what `npm start` prints), else from the last visit. */
  restoreKey(): void {
    const fromUrl = new URLSearchParams(location.hash.slice(1)).get("key");
    if (fromUrl === null) {
      this.key.value = loadKey();
      return;
    }
    // A key must not linger in the address bar, the history or a screenshot.
    history.replaceState(history.state, "", `${location.pathname}${location.search}`);
    this.key.value = fromUrl.trim();
    storeKey(this.key.value);
  }

  rememberKey(): void {
    storeKey(this.key.value.trim());
  }

  /** The request the form describes; call after the browser validated the form. */
  request(): GenerationRequest {
    const negative = this.#negativePrompt.value.trim();
    const seed = this.#randomSeed.checked || this.#seed.value === "" ? undefined : Number(this.#seed.value);
    const format = this.#format.value;
    return {
      ...(this.#model.value === "" ? {} : { model: this.#model.value }),
      prompt: this.prompt.value,
      ...(negative === "" ? {} : { negative_prompt: negative }),
      size: `${this.#width.value}x${this.#height.value}`,
      ...(seed === undefined ? {} : { seed }),
      steps: Number(this.#steps.value),
      guidance_scale: Number(this.#guidance.value),
      output_format: isOutputFormat(format) ? format : "png",
    };
  }

  /** Puts a reported seed into the form, so the next generation reproduces the image. */
  useSeed(seed: string): void {
    this.#seed.value = seed;
    this.#randomSeed.checked = false;
  }

  modelsLoading(): void {
    this.#model.disabled = true;
    setText(this.#modelStatus, "Loading models…");
  }

  /** The server picks its first model when the list is unavailable, so generating still works. */
  modelsFailed(reason: string): void {
    this.#showModels([]);
    setText(this.#modelStatus, reason);
  }

  modelsLoaded(models: readonly Model[]): void {
    this.#showModels(models);
    if (models.length === 0) setText(this.#modelStatus, "The edge lists no models; is a sidecar running?");
  }

  #showModels(models: readonly Model[]): void {
    const previous = this.#model.value;
    this.#models = models;
    const options = models.map((model) => new Option(model.id, model.id));
    if (options.length === 0) options.push(new Option("Server default", ""));
    this.#model.replaceChildren(...options);
    if (models.some((model) => model.id === previous)) this.#model.value = previous;
    this.#model.disabled = false;
    this.#modelChosen();
  }

  /** Describes the selected model and disables the sizes beyond its maximum, which the edge would refuse. */
  #modelChosen(): void {
    const caps = this.#models.find((model) => model.id === this.#model.value)?.capabilities;
    if (caps?.max_width !== undefined && caps.max_height !== undefined) {
      const steps = caps.default_steps === undefined ? "" : `, ${caps.default_steps} steps by default`;
      setText(this.#modelStatus, `Up to ${caps.max_width}×${caps.max_height}${steps}.`);
    }
    const limit = (select: HTMLSelectElement, max: number | undefined) => {
      for (const option of select.options) option.disabled = max !== undefined && Number(option.value) > max;
      if (select.selectedOptions[0]?.disabled === true) {
        const fitting = [...select.options].filter((option) => !option.disabled).at(-1);
        if (fitting !== undefined) select.value = fitting.value;
      }
    };
    limit(this.#width, caps?.max_width);
    limit(this.#height, caps?.max_height);
  }
}
