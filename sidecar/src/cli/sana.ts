#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SAMPLER_NAMES, type SamplerName } from "@sana-edge/proto";
import { TextToImage } from "../engine/text-to-image.js";
import { encodeImage, type ImageFormat } from "../images/encode.js";
import { health } from "./health.js";
import { ProgressReporter } from "./progress.js";
import { generateRemote, isRemoteGenerate, remoteUsage } from "./remote.js";
import { serve, serveUsage, UsageError } from "./serve.js";

// `sana generate`: one image from a model folder on this machine's engine, no server.
// Progress goes to stderr (a bar on a terminal, plain lines otherwise); the image to --output.
// `sana generate --endpoint URL`: the same, asked of a SANA edge (remote.ts).
// `sana serve`: the sidecar (serve.ts).

const defaultModel = fileURLToPath(
  new URL("../../../test/fixtures/golden/models/tiny-sana", import.meta.url),
);

const usage = `usage: sana generate "prompt" | --prompt TEXT [--model DIR] [--backend cpu|cuda] [-o out.png] [--width 512] [--height 512]
       [--steps 20] [--guidance 4.5] [--seed N] [--negative TEXT] [--sampler flow_dpm_solver|flow_euler|scm]
       [--no-instruction] [--endpoint URL --api-key KEY]
--model defaults to SANA_MODEL_DIR, else the embedded tiny random-weight model (its images are noise);
--backend to SANA_BACKEND, else cpu.
${remoteUsage}`;

const formats: Record<string, ImageFormat> = {
  ".png": "png",
  ".jpg": "jpeg",
  ".jpeg": "jpeg",
  ".webp": "webp",
};
const isSampler = (name: string): name is SamplerName => (SAMPLER_NAMES as readonly string[]).includes(name);

function integer(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return value;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: "string" },
      backend: { type: "string", default: process.env.SANA_BACKEND || "cpu" },
      prompt: { type: "string" },
      output: { type: "string", short: "o", default: "out.png" },
      width: { type: "string", default: "512" },
      height: { type: "string", default: "512" },
      steps: { type: "string", default: "20" },
      guidance: { type: "string", default: "4.5" },
      seed: { type: "string" },
      negative: { type: "string", default: "" },
      sampler: { type: "string" },
      "no-instruction": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...words] = positionals;
  const prompt = values.prompt ?? words[0];
  const wellFormed =
    command === "generate" && words.length <= 1 && (values.prompt === undefined || words.length === 0);
  if (values.help || !wellFormed || prompt === undefined) {
    process.stderr.write(`${usage}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const output = resolve(values.output);
  const format = formats[extname(output).toLowerCase()];
  if (format === undefined) throw new Error(`--output must end in .png, .jpg, .jpeg or .webp: ${output}`);
  const sampler = values.sampler;
  if (sampler !== undefined && !isSampler(sampler))
    throw new Error(`--sampler must be one of ${SAMPLER_NAMES.join(", ")}`);
  const guidanceScale = Number(values.guidance);
  if (!Number.isFinite(guidanceScale) || guidanceScale < 0)
    throw new Error(`--guidance must be a number ≥ 0`);
  // torch seeds its CPU generator with the low 32 bits only: larger random seeds would only collide.
  const seed = values.seed === undefined ? randomBytes(4).readUInt32BE(0) : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer`);

  const modelDir = values.model ?? (process.env.SANA_MODEL_DIR || defaultModel);
  process.stderr.write(`loading ${modelDir}\n`);
  const engine = await TextToImage.load(modelDir, { backend: values.backend });
  const progress = new ProgressReporter(process.stderr);
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  const image = await engine.generate(
    {
      prompt,
      negativePrompt: values.negative,
      width: integer("width", values.width),
      height: integer("height", values.height),
      steps: integer("steps", values.steps),
      guidanceScale,
      seed: BigInt(seed),
      useComplexHumanInstruction: !values["no-instruction"],
      ...(sampler === undefined ? {} : { sampler }),
    },
    { signal: controller.signal, onProgress: (p) => progress.step(p.stage, p.step, p.totalSteps) },
  );
  progress.finish();
  writeFileSync(output, await encodeImage(image, { format }));
  process.stderr.write(`wrote ${output} (${image.width}x${image.height}, seed ${image.seed})\n`);
}

const args = process.argv.slice(2);
const [command, ...rest] = args;
const remote = () =>
  generateRemote(rest, process.env, usage).then((code) => {
    process.exitCode = code;
  });
const run =
  command === "serve"
    ? serve(rest)
    : command === "health"
      ? health(rest)
      : isRemoteGenerate(args, process.env)
        ? remote()
        : main();
run.catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`sana: ${error.message}\n${serveUsage}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`\nsana: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
