import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inspectWeights, openModelFolder, readSafetensors } from "@sana-edge/native";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyModel, editJson, makeTempDir, type TempDir } from "./helpers/fixtures.js";
import { encodeRaw, rawTensors, readRaw, writeSafetensors } from "./helpers/safetensors.js";

// Each test corrupts a fresh copy of a fixture model and checks that the loader refuses it
// with a message naming the file, tensor or config key at fault.

const TRANSFORMER_FILE = join("transformer", "diffusion_pytorch_model.safetensors");

let temp: TempDir;
let model: string;

beforeEach(() => {
  temp = makeTempDir("loader-errors");
  model = copyModel(temp.path, "tiny-sana");
});

afterEach(() => temp.remove());

function rewriteHeader(file: string, edit: (header: Record<string, unknown>) => void): void {
  const raw = readRaw(file);
  const header: Record<string, unknown> = { ...raw.header };
  if (raw.metadata !== undefined) header.__metadata__ = raw.metadata;
  edit(header);
  writeFileSync(file, encodeRaw(header, raw.data));
}

function entry(
  header: Record<string, unknown>,
  name: string,
): { dtype: string; data_offsets: [number, number] } {
  return header[name] as { dtype: string; data_offsets: [number, number] };
}

describe("model folder structure", () => {
  it("reports a folder without model_index.json", () => {
    rmSync(join(model, "model_index.json"));
    expect(() => openModelFolder(model)).toThrow(
      /model_index\.json is missing: .* is not a diffusers pipeline folder/,
    );
  });

  it("reports a missing component config.json, naming the component", () => {
    rmSync(join(model, "transformer", "config.json"));
    expect(() => openModelFolder(model)).toThrow(
      `component "transformer" (SanaTransformer2DModel): ${join(model, "transformer", "config.json")} is missing`,
    );
  });

  it("reports a component folder that model_index.json lists but that does not exist", () => {
    rmSync(join(model, "vae"), { recursive: true });
    expect(() => openModelFolder(model)).toThrow(
      /lists component "vae" \(AutoencoderDC\), but its folder .*vae is missing/,
    );
  });

  it("reports invalid JSON in a config file with its position", () => {
    writeFileSync(join(model, "transformer", "config.json"), '{"in_channels": 8,,}');
    expect(() => inspectWeights(model, "transformer")).toThrow(
      /invalid JSON in .*transformer\/config\.json: .*line 1, column 19/,
    );
  });

  it("reports a missing weights file", () => {
    rmSync(join(model, "vae", "diffusion_pytorch_model.safetensors"));
    expect(() => inspectWeights(model, "vae")).toThrow(
      `no safetensors weights in ${join(model, "vae")} (expected diffusion_pytorch_model.safetensors`,
    );
  });
});

describe("safetensors header validation", () => {
  it("reports a truncated file", () => {
    const file = join(model, TRANSFORMER_FILE);
    const size = readFileSync(file).length;
    truncateSync(file, size - 100);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      /diffusion_pytorch_model\.safetensors: tensor "[^"]+": data_offsets \[\d+, \d+\] run past the end of the data area \(\d+ bytes\): the file is truncated/,
    );
  });

  it("reports a file shorter than the length prefix", () => {
    const file = join(model, TRANSFORMER_FILE);
    writeFileSync(file, Buffer.from([1, 2, 3]));
    expect(() => readSafetensors(file)).toThrow(
      `${file}: truncated safetensors file: 3 bytes, fewer than the 8-byte header length`,
    );
  });

  it("reports a header length larger than the file", () => {
    const file = join(model, TRANSFORMER_FILE);
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(BigInt(bytes.length + 10), 0);
    writeFileSync(file, bytes);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      `${file}: header length ${bytes.length + 10} exceeds the file size (${bytes.length} bytes)`,
    );
  });

  it("reports an absurd header length before reading anything", () => {
    const file = join(model, TRANSFORMER_FILE);
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(file, bytes);
    expect(() => readSafetensors(file)).toThrow(/header length 1099511627776 exceeds the 100 MiB limit/);
  });

  it("reports a header that is not JSON", () => {
    const file = join(model, TRANSFORMER_FILE);
    const bytes = readFileSync(file);
    bytes.write("#", 9, "latin1"); // inside the header, right after its opening brace
    writeFileSync(file, bytes);
    expect(() => inspectWeights(model, "transformer")).toThrow(`${file}: invalid JSON header: `);
  });

  it("reports a header that is JSON but not an object", () => {
    const file = join(model, TRANSFORMER_FILE);
    writeFileSync(file, encodeRaw([] as unknown as Record<string, unknown>, new Uint8Array()));
    expect(() => readSafetensors(file)).toThrow(`${file}: header must be a JSON object, not array`);
  });

  it("reports overlapping tensors", () => {
    const file = join(model, TRANSFORMER_FILE);
    rewriteHeader(file, (header) => {
      // Same size as proj_out.bias ([8] F32), so only the overlap is wrong.
      entry(header, "proj_out.bias").data_offsets = [...entry(header, "patch_embed.proj.bias").data_offsets];
      entry(header, "proj_out.bias").data_offsets[1] = entry(header, "proj_out.bias").data_offsets[0] + 32;
    });
    expect(() => readSafetensors(file)).toThrow(
      /tensor "(proj_out\.bias|patch_embed\.proj\.bias)" overlaps tensor "(patch_embed\.proj\.bias|proj_out\.bias)"/,
    );
  });

  it("reports offsets outside the data area", () => {
    const file = join(model, TRANSFORMER_FILE);
    const dataSize = readRaw(file).data.length;
    rewriteHeader(file, (header) => {
      entry(header, "proj_out.bias").data_offsets = [dataSize, dataSize + 32];
    });
    expect(() => readSafetensors(file)).toThrow(
      `${file}: tensor "proj_out.bias": data_offsets [${dataSize}, ${dataSize + 32}] run past the end of the data area`,
    );
  });

  it("reports a byte range that does not fit the shape and dtype", () => {
    const file = join(model, TRANSFORMER_FILE);
    rewriteHeader(file, (header) => {
      entry(header, "proj_out.weight").dtype = "F16";
    });
    expect(() => readSafetensors(file)).toThrow(
      /tensor "proj_out\.weight": data_offsets \[\d+, \d+\] hold 1024 bytes, but shape \[8, 32\] of F16 needs 512/,
    );
  });

  it("reports an unknown dtype", () => {
    const file = join(model, TRANSFORMER_FILE);
    rewriteHeader(file, (header) => {
      entry(header, "proj_out.weight").dtype = "F8_E9M0";
    });
    expect(() => readSafetensors(file)).toThrow(
      `${file}: tensor "proj_out.weight": unsupported safetensors dtype "F8_E9M0"`,
    );
  });

  it("reports a negative dimension", () => {
    const file = join(model, TRANSFORMER_FILE);
    rewriteHeader(file, (header) => {
      (header["proj_out.bias"] as { shape: number[] }).shape = [-8];
    });
    expect(() => readSafetensors(file)).toThrow(
      /tensor "proj_out\.bias": shape \[-8\] must hold non-negative integers/,
    );
  });

  it("reports bytes that belong to no tensor", () => {
    const file = join(model, TRANSFORMER_FILE);
    const raw = readRaw(file);
    const header: Record<string, unknown> = { ...raw.header };
    writeFileSync(file, encodeRaw(header, Buffer.concat([raw.data, Buffer.alloc(16)])));
    expect(() => readSafetensors(file)).toThrow(
      `${file}: the data area has 16 trailing bytes that belong to no tensor`,
    );
  });
});

describe("dtype and shape checks against config.json", () => {
  it("rejects an integer tensor in a float model", () => {
    const file = join(model, TRANSFORMER_FILE);
    rewriteHeader(file, (header) => {
      entry(header, "proj_out.weight").dtype = "I32"; // same byte size as F32: the header stays consistent
    });
    expect(() => readSafetensors(file)).not.toThrow();
    expect(() => inspectWeights(model, "transformer")).toThrow(
      `tensor "proj_out.weight" has dtype I32; model weights must be F32, F16 or BF16`,
    );
  });

  it("rejects mixed float dtypes within one component", () => {
    const file = join(model, TRANSFORMER_FILE);
    const tensors = rawTensors(file);
    const bias = tensors["proj_out.bias"];
    if (bias === undefined) throw new Error("fixture lacks proj_out.bias");
    tensors["proj_out.bias"] = { dtype: "F16", shape: bias.shape, bytes: bias.bytes.slice(0, 16) };
    writeSafetensors(file, tensors);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      /mixed weight dtypes: tensor "[^"]+" is (F16|F32) but "[^"]+" is (F32|F16); a component's weights must share one dtype/,
    );
  });

  it("rejects a transformer whose in_channels disagrees with patch_embed", () => {
    editJson(join(model, "transformer", "config.json"), (config) => {
      config.in_channels = 9;
    });
    expect(() => inspectWeights(model, "transformer")).toThrow(
      'tensor "patch_embed.proj.weight" has shape [32, 8, 1, 1], but config.json implies [32, 9, 1, 1] = ' +
        "[num_attention_heads*attention_head_dim=32, in_channels=9, patch_size=1, patch_size]",
    );
  });

  it("rejects a transformer with fewer blocks than num_layers", () => {
    editJson(join(model, "transformer", "config.json"), (config) => {
      config.num_layers = 3;
    });
    expect(() => inspectWeights(model, "transformer")).toThrow(
      "has 2 transformer_blocks.* blocks (indices 0..1), but config.json num_layers = 3",
    );
  });

  it("rejects a Sprint transformer config claiming a guidance embedder the weights lack", () => {
    editJson(join(model, "transformer", "config.json"), (config) => {
      config.guidance_embeds = true;
    });
    expect(() => inspectWeights(model, "transformer")).toThrow(
      /tensor "time_embed\.guidance_embedder\.linear_2\.weight" is missing; config\.json implies shape \[32, 32\]/,
    );
  });

  it("rejects a VAE whose latent_channels disagrees with its convolutions", () => {
    editJson(join(model, "vae", "config.json"), (config) => {
      config.latent_channels = 16;
    });
    expect(() => inspectWeights(model, "vae")).toThrow(
      'tensor "encoder.conv_out.weight" has shape [8, 16, 3, 3], but config.json implies [16, 16, 3, 3] = [latent_channels=16',
    );
  });

  it("rejects a text encoder whose vocab_size disagrees with the embedding", () => {
    editJson(join(model, "text_encoder", "config.json"), (config) => {
      config.vocab_size = 256000;
    });
    expect(() => inspectWeights(model, "text_encoder")).toThrow(
      'tensor "embed_tokens.weight" has shape [3000, 32], but config.json implies [256000, 32] = [vocab_size=256000, hidden_size=32]',
    );
  });

  it("rejects a text encoder with more layers in config than in the weights", () => {
    editJson(join(model, "text_encoder", "config.json"), (config) => {
      config.num_hidden_layers = 5;
    });
    expect(() => inspectWeights(model, "text_encoder")).toThrow(
      "has 4 layers.* blocks (indices 0..3), but config.json num_hidden_layers = 5",
    );
  });

  it("names a config value of the wrong type", () => {
    editJson(join(model, "transformer", "config.json"), (config) => {
      config.num_layers = "two";
    });
    expect(() => inspectWeights(model, "transformer")).toThrow(
      /transformer\/config\.json \(SanaTransformer2DModel\): "num_layers" must be an integer, not "two"/,
    );
  });

  it("applies only the generic checks to a class it does not know", () => {
    editJson(join(model, "model_index.json"), (index) => {
      index.transformer = ["diffusers", "SomeFutureTransformer"];
    });
    editJson(join(model, "transformer", "config.json"), (config) => {
      config.in_channels = 9;
    });
    expect(inspectWeights(model, "transformer")).toMatchObject({
      className: "SomeFutureTransformer",
      dtype: "F32",
    });
  });
});
