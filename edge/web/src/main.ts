import { ApiFailure, generateImage, listModels } from "./api.js";
import { GenerationForm } from "./form.js";
import { View } from "./view.js";

// Wires the form to the API and the view. One generation at a time; aborting its fetch is how it
// is cancelled (the edge then cancels the job at the sidecar).

const form = new GenerationForm();
const view = new View();
let generation: AbortController | undefined;
let modelListing: AbortController | undefined;
/** The key the model list was last asked with; the list is fetched again only when it changes. */
let listedKey: string | undefined;

const KEY_HELP = "Create one with: npx tsx edge/scripts/keys.ts create --name me --local";

/** Ends a server message as a sentence, so a hint can follow it. */
function sentence(message: string): string {
  return /[.!?]$/.test(message) ? message : `${message}.`;
}

function describe(error: unknown): string {
  if (!(error instanceof ApiFailure)) return `Something went wrong in this page: ${String(error)}`;
  const message = sentence(error.message);
  switch (error.status) {
    case 401:
      return `The API key is missing or wrong. ${KEY_HELP} (The edge said: ${message})`;
    case 429:
    case 503: {
      const wait = error.retryAfterSeconds;
      if (wait === undefined) return `${message} Try again in a little while.`;
      const at = new Date(Date.now() + wait * 1000).toLocaleTimeString();
      return `${message} Try again in ${wait} s (at ${at}).`;
    }
    default:
      return message;
  }
}

function modelsFailure(error: unknown): string {
  if (error instanceof ApiFailure && error.status === 401) return "the API key is missing or wrong.";
  if (error instanceof ApiFailure && error.kind === "network") return "the edge cannot be reached.";
  return error instanceof Error ? error.message : String(error);
}

async function refreshModels(): Promise<void> {
  const key = form.key.value.trim();
  if (key === listedKey) return;
  listedKey = key;
  modelListing?.abort();
  if (key === "") {
    form.modelsFailed("Enter your API key to list the models.");
    return;
  }
  const controller = new AbortController();
  modelListing = controller;
  form.modelsLoading();
  try {
    form.modelsLoaded(await listModels(key, controller.signal));
  } catch (error) {
    if (controller.signal.aborted) return;
    listedKey = undefined; // the next change of the key field asks again (a sidecar may be up by then)
    form.modelsFailed(`No model list: ${modelsFailure(error)}`);
  }
}

async function generate(): Promise<void> {
  if (generation !== undefined) return;
  const controller = new AbortController();
  generation = controller;
  const request = form.request();
  const started = performance.now();
  const [width = 0, height = 0] = request.size.split("x").map(Number);
  view.started(width, height);
  try {
    for await (const event of generateImage(form.key.value.trim(), request, controller.signal)) {
      switch (event.type) {
        case "sana.queued":
          view.queued(event);
          break;
        case "sana.progress":
          view.progress(event);
          break;
        case "image_generation.partial_image":
          view.partialImage(event);
          break;
        case "image_generation.completed":
          view.completed(event, request.prompt, performance.now() - started);
          break;
      }
    }
  } catch (error) {
    if (controller.signal.aborted) view.cancelled();
    else view.failed(describe(error));
  } finally {
    generation = undefined;
    view.finished();
  }
}

function cancel(): void {
  generation?.abort();
}

form.restoreKey();
void refreshModels();

form.element.addEventListener("submit", (event) => {
  event.preventDefault();
  void generate();
});
// The list follows the key while it is typed or pasted, not on blur: a list arriving during a click
// on Generate would move the button from under the pointer.
let keyTyping: ReturnType<typeof setTimeout> | undefined;
form.key.addEventListener("input", () => {
  form.rememberKey();
  clearTimeout(keyTyping);
  keyTyping = setTimeout(() => void refreshModels(), 400);
});
form.key.addEventListener("change", () => void refreshModels());
form.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    // requestSubmit runs the browser's validation, as the Generate button does.
    form.element.requestSubmit();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && generation !== undefined) {
    event.preventDefault();
    cancel();
  }
});
view.cancel.addEventListener("click", cancel);
view.reuseSeed.addEventListener("click", () => form.useSeed(view.seed));
