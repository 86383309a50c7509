import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  float32Tensor,
  inspectWeights,
  int64Tensor,
  openModelFolder,
  readConfig,
  readSafetensors,
  safetensorsHeader,
} from "@sana-edge/native";
import { describe, expect, it } from "vitest";
import { casesDir, fixtureModels, goldenDir, modelsDir } from "./helpers/fixtures.js";
import { rawTensors } from "./helpers/safetensors.js";

interface ManifestTensor {
  shape: number[];
  dtype: "float32" | "int64";
}

interface ManifestCase {
  name: string;
  file: string;
  inputs: Record<string, ManifestTensor>;
  outputs: Record<string, ManifestTensor>;
}

const manifest = JSON.parse(readFileSync(join(casesDir, "manifest.json"), "utf8")) as {
  cases: ManifestCase[];
  models: Record<string, { pipeline_class: string; latent_channels: number }>;
};

describe("openModelFolder on the fixture models", () => {
  it.each(fixtureModels)("%s lists its pipeline class and five components", (model) => {
    const folder = openModelFolder(join(modelsDir, model));
    expect(folder.pipelineClass).toBe(manifest.models[model]?.pipeline_class);
    expect(folder.components.map((c) => c.name).sort()).toEqual([
      "scheduler",
      "text_encoder",
      "tokenizer",
      "transformer",
      "vae",
    ]);
    const byName = Object.fromEntries(folder.components.map((c) => [c.name, c]));
    expect(byName.transformer).toMatchObject({
      library: "diffusers",
      className: "SanaTransformer2DModel",
      kind: "model",
      hasWeights: true,
    });
    expect(byName.vae).toMatchObject({ className: "AutoencoderDC", hasWeights: true });
    expect(byName.text_encoder).toMatchObject({
      library: "transformers",
      className: "Gemma2Model",
      hasWeights: true,
    });
    expect(byName.scheduler).toMatchObject({ kind: "scheduler", hasWeights: false });
    expect(byName.tokenizer).toMatchObject({ kind: "tokenizer", hasWeights: false });
  });
});

describe("inspectWeights on the fixture models", () => {
  const weighted = fixtureModels.flatMap((model) =>
    ["transformer", "vae", "text_encoder"].map((component) => [model, component] as const),
  );

  it.each(weighted)("%s/%s validates and matches the safetensors file", (model, component) => {
    const root = join(modelsDir, model);
    const info = inspectWeights(root, component);
    const fileName =
      component === "text_encoder" ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
    const raw = rawTensors(join(root, component, fileName));
    expect(info.dtype).toBe("F32");
    expect(info.files).toEqual([join(root, component, fileName)]);
    expect(info.tensorCount).toBe(Object.keys(raw).length);
    expect(info.totalBytes).toBe(Object.values(raw).reduce((sum, t) => sum + t.bytes.length, 0));
    for (const tensor of info.tensors) {
      expect(tensor.shape, tensor.name).toEqual(raw[tensor.name]?.shape);
      expect(tensor.dtype).toBe("F32");
    }
  });

  it("checks that the VAE latent channels agree with the manifest", () => {
    for (const model of fixtureModels) {
      const info = inspectWeights(join(modelsDir, model), "vae");
      const convOut = info.tensors.find((t) => t.name === "encoder.conv_out.weight");
      expect(convOut?.shape[0]).toBe(manifest.models[model]?.latent_channels);
    }
  });

  it("refuses weights for a component that has none", () => {
    expect(() => inspectWeights(join(modelsDir, "tiny-sana"), "scheduler")).toThrow(
      /component "scheduler" \(DPMSolverMultistepScheduler\) is a scheduler and has no weights/,
    );
  });

  it("names the known components when asked for an unknown one", () => {
    expect(() => inspectWeights(join(modelsDir, "tiny-sana"), "unet")).toThrow(
      /no component "unet" \(the folder has: scheduler, text_encoder, tokenizer, transformer, vae\)/,
    );
  });
});

describe("readConfig", () => {
  it("returns config.json as a JS object", () => {
    const config = readConfig(join(modelsDir, "tiny-sana-sprint"), "transformer");
    expect(config).toMatchObject({
      _class_name: "SanaTransformer2DModel",
      guidance_embeds: true,
      num_layers: 2,
    });
  });

  it("turns Python's bare -Infinity in scheduler configs into a number", () => {
    const config = readConfig(join(modelsDir, "tiny-sana"), "scheduler");
    expect(config).toMatchObject({ _class_name: "DPMSolverMultistepScheduler", flow_shift: 3 });
    expect((config as Record<string, unknown>).lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe("readSafetensors on the golden case files", () => {
  it.each(manifest.cases.map((c) => [c.name, c] as const))("%s matches the manifest", (_name, testCase) => {
    const file = join(goldenDir, testCase.file);
    const contents = readSafetensors(file);
    const expected = { ...testCase.inputs, ...testCase.outputs };
    expect(Object.keys(contents).sort()).toEqual(Object.keys(expected).sort());
    const raw = rawTensors(file);
    for (const [name, spec] of Object.entries(expected)) {
      const entry = contents[name];
      expect(entry?.shape, name).toEqual(spec.shape);
      // F32 and I64 arrive unconverted, so the arrays must hold the file's exact bytes.
      const data =
        spec.dtype === "int64" ? int64Tensor(contents, name).data : float32Tensor(contents, name).data;
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      expect(bytes.equals(raw[name]?.bytes ?? new Uint8Array()), name).toBe(true);
    }
  });

  it("exposes the header metadata", () => {
    const header = safetensorsHeader(join(casesDir, "transformer_sana.safetensors"));
    expect(header.metadata).toEqual({ case: "transformer_sana" });
    expect(header.tensors.find((t) => t.name === "encoder_attention_mask")).toEqual({
      name: "encoder_attention_mask",
      dtype: "I64",
      shape: [2, 20],
    });
  });

  it("throws a catchable Error naming a missing file", () => {
    const missing = join(casesDir, "no_such_case.safetensors");
    expect(() => readSafetensors(missing)).toThrow(`cannot open ${missing}: No such file or directory`);
  });
});
