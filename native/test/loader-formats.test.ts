import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { float32Tensor, inspectWeights, readSafetensors } from "@sana-edge/native";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyModel, makeTempDir, type TempDir } from "./helpers/fixtures.js";
import {
  convertF32,
  float32Values,
  type RawTensor,
  rawTensors,
  roundToBf16,
  roundToF16,
  writeSafetensors,
} from "./helpers/safetensors.js";

// Sharded checkpoints and half-precision weight files, built from the fixture models.

let temp: TempDir;
let model: string;

beforeEach(() => {
  temp = makeTempDir("loader-formats");
  model = copyModel(temp.path, "tiny-sana");
});

afterEach(() => temp.remove());

interface ShardPlan {
  indexName: string;
  shards: Record<string, Record<string, RawTensor>>;
  weightMap: Record<string, string>;
}

/** Splits a component's single file into two shards plus an index, the way transformers names them. */
function shard(component: string, single: string, stem: string): ShardPlan {
  const dir = join(model, component);
  const tensors = rawTensors(join(dir, single));
  rmSync(join(dir, single));
  const names = Object.keys(tensors).sort();
  const half = Math.ceil(names.length / 2);
  const plan: ShardPlan = { indexName: `${stem}.safetensors.index.json`, shards: {}, weightMap: {} };
  names.forEach((name, i) => {
    const shardName = `${stem}-0000${i < half ? 1 : 2}-of-00002.safetensors`;
    const shardTensors = plan.shards[shardName] ?? {};
    shardTensors[name] = tensors[name] as RawTensor;
    plan.shards[shardName] = shardTensors;
    plan.weightMap[name] = shardName;
  });
  return plan;
}

function writePlan(component: string, plan: ShardPlan): string {
  const dir = join(model, component);
  for (const [shardName, tensors] of Object.entries(plan.shards)) {
    writeSafetensors(join(dir, shardName), tensors, { format: "pt" });
  }
  const index = join(dir, plan.indexName);
  writeFileSync(index, JSON.stringify({ metadata: { total_size: 0 }, weight_map: plan.weightMap }));
  return index;
}

describe("sharded checkpoints", () => {
  it("load a transformer split into two shards to the same tensors", () => {
    const original = readSafetensors(join(model, "transformer", "diffusion_pytorch_model.safetensors"));
    const index = writePlan(
      "transformer",
      shard("transformer", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model"),
    );

    const info = inspectWeights(model, "transformer");
    expect(info.files).toEqual([
      join(model, "transformer", "diffusion_pytorch_model-00001-of-00002.safetensors"),
      join(model, "transformer", "diffusion_pytorch_model-00002-of-00002.safetensors"),
    ]);
    expect(info.tensorCount).toBe(Object.keys(original).length);
    expect(readSafetensors(index)).toEqual(original);
  });

  it("load a text encoder saved as model.safetensors.index.json", () => {
    writePlan("text_encoder", shard("text_encoder", "model.safetensors", "model"));
    const info = inspectWeights(model, "text_encoder");
    expect(info.files).toHaveLength(2);
    expect(info.tensorCount).toBe(46);
  });

  it("report a shard the index lists but the folder lacks", () => {
    const index = writePlan(
      "transformer",
      shard("transformer", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model"),
    );
    const missing = join(model, "transformer", "diffusion_pytorch_model-00002-of-00002.safetensors");
    rmSync(missing);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      new RegExp(
        `${index} lists shard "diffusion_pytorch_model-00002-of-00002\\.safetensors" \\(for \\d+ tensors, e\\.g\\. "[^"]+"\\), but ${missing} is missing`,
      ),
    );
  });

  it("report a tensor the index maps to a shard that does not hold it", () => {
    const plan = shard("transformer", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model");
    const target = Object.keys(plan.shards)[0] as string;
    plan.weightMap["transformer_blocks.2.attn1.to_q.weight"] = target;
    writePlan("transformer", plan);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      `maps tensor "transformer_blocks.2.attn1.to_q.weight" to shard "${target}", but ` +
        `${join(model, "transformer", target)} has no such tensor`,
    );
  });

  it("report a shard tensor the index does not map", () => {
    const plan = shard("transformer", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model");
    const holder = plan.weightMap["proj_out.weight"] as string;
    delete plan.weightMap["proj_out.weight"];
    const index = writePlan("transformer", plan);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      `${join(model, "transformer", holder)} holds tensor "proj_out.weight", which ${index} does not map to this shard`,
    );
  });

  it("refuse shard names that point outside the folder", () => {
    const plan = shard("transformer", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model");
    plan.weightMap["proj_out.weight"] = "../vae/diffusion_pytorch_model.safetensors";
    writePlan("transformer", plan);
    expect(() => inspectWeights(model, "transformer")).toThrow(
      /weight_map entry for "proj_out\.weight" names "\.\.\/vae\/diffusion_pytorch_model\.safetensors", not a file name/,
    );
  });
});

describe("half-precision weights", () => {
  it.each([
    ["BF16", roundToBf16],
    ["F16", roundToF16],
  ] as const)("a %s copy of the transformer loads as the F32 weights rounded", (dtype, round) => {
    const file = join(model, "transformer", "diffusion_pytorch_model.safetensors");
    const source = rawTensors(file);
    const converted: Record<string, RawTensor> = {};
    for (const [name, tensor] of Object.entries(source)) converted[name] = convertF32(tensor, dtype);
    writeSafetensors(file, converted);

    expect(inspectWeights(model, "transformer").dtype).toBe(dtype);
    const loaded = readSafetensors(file);
    let changed = 0;
    for (const [name, tensor] of Object.entries(source)) {
      const entry = loaded[name];
      expect(entry?.dtype).toBe(dtype);
      const values = float32Values(tensor.bytes);
      const expected = Float32Array.from(values, round);
      expect(float32Tensor(loaded, name).data, name).toEqual(expected);
      changed += values.filter((v, i) => v !== expected[i]).length;
    }
    // The comparison means something only if rounding actually moved values.
    expect(changed).toBeGreaterThan(1000);
  });

  it("decodes F16 and BF16 edge values: zeros, subnormals, the largest half, ties", () => {
    const values = new Float32Array([
      0,
      -0,
      1,
      -2.5,
      65504,
      1e-7,
      6e-8,
      3e-5,
      0.1,
      1 / 3,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    ]);
    const source: RawTensor = { dtype: "F32", shape: [values.length], bytes: new Uint8Array(values.buffer) };
    const file = join(temp.path, "edges.safetensors");
    writeSafetensors(file, { f16: convertF32(source, "F16"), bf16: convertF32(source, "BF16") });
    const loaded = readSafetensors(file);
    expect(float32Tensor(loaded, "f16").data).toEqual(Float32Array.from(values, roundToF16));
    expect(float32Tensor(loaded, "bf16").data).toEqual(Float32Array.from(values, roundToBf16));
    // Ties to even: 1 + 2^-11 sits halfway between halves 1 and 1 + 2^-10 and rounds down to 1.
    expect(float32Tensor(loaded, "f16").data[10]).toBe(1);
    expect(float32Tensor(loaded, "f16").data[11]).toBe(1 + 2 ** -9);
    expect(Object.is(float32Tensor(loaded, "f16").data[1], -0)).toBe(true);
  });

  it("leave no stray files in the copied folder", () => {
    expect(readdirSync(join(model, "transformer")).sort()).toEqual([
      "config.json",
      "diffusion_pytorch_model.safetensors",
    ]);
  });
});
