import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ImageFormat, Sampler } from "@sana-edge/proto";
import { describe, expect, it } from "vitest";
import {
  describeModel,
  ModelConfigError,
  type ModelConfigs,
  type ModelFolderDescription,
} from "../src/engine/models.js";
import { type PythonJsonObject, parsePythonJson } from "../src/engine/python-json.js";

const modelsDir = fileURLToPath(new URL("../../test/fixtures/golden/models/", import.meta.url));

async function readJsonObject(file: string): Promise<PythonJsonObject> {
  const value = parsePythonJson(await readFile(file, "utf8"), file);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`${file}: not an object`);
  return value;
}

/** What native ModelFolder reports, rebuilt from model_index.json. */
async function loadFixture(name: string): Promise<{ folder: ModelFolderDescription; configs: ModelConfigs }> {
  const root = `${modelsDir}${name}`;
  const index = await readJsonObject(`${root}/model_index.json`);
  const components = Object.entries(index).flatMap(([componentName, value]) =>
    Array.isArray(value) && typeof value[1] === "string"
      ? [{ name: componentName, className: value[1] }]
      : [],
  );
  const pipelineClass = index._class_name;
  if (typeof pipelineClass !== "string") throw new Error(`${root}: no _class_name`);
  return {
    folder: { root, pipelineClass, components },
    configs: {
      transformer: await readJsonObject(`${root}/transformer/config.json`),
      scheduler: await readJsonObject(`${root}/scheduler/scheduler_config.json`),
    },
  };
}

describe("describeModel on the golden fixture folders", () => {
  it("gives SANA 1.0 (sample_size 32) 1024 px, both flow samplers, 20 steps at guidance 4.5", async () => {
    const { folder, configs } = await loadFixture("tiny-sana");
    const info = describeModel(folder, configs, { revision: "fixture-r1" });
    expect(info.id).toBe("tiny-sana");
    expect(info.revision).toBe("fixture-r1");
    expect(info.pipelineClass).toBe("SanaPipeline");
    expect(info.capabilities).toMatchObject({
      nativeResolution: 1024,
      maxWidth: 1024,
      maxHeight: 1024,
      resolutionMultiple: 32,
      samplers: [Sampler.FLOW_DPM_SOLVER, Sampler.FLOW_EULER],
      defaultSampler: Sampler.FLOW_DPM_SOLVER,
      defaultSteps: 20,
      maxSteps: 100,
      defaultGuidanceScale: 4.5,
      supportsGuidanceEmbedding: false,
      supportsNegativePrompt: true,
      supportsPag: true,
      outputFormats: [ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP],
    });
  });

  it("gives the 4K model (sample_size 128) 4096 px", async () => {
    const { folder, configs } = await loadFixture("tiny-sana-4k");
    const caps = describeModel(folder, configs).capabilities;
    expect([caps?.nativeResolution, caps?.maxWidth, caps?.maxHeight]).toEqual([4096, 4096, 4096]);
    expect(caps?.defaultSampler).toBe(Sampler.FLOW_DPM_SOLVER);
  });

  it("treats SANA 1.5 and the Sprint teacher as classifier-free-guidance models", async () => {
    for (const name of ["tiny-sana-1.5", "tiny-sana-sprint-teacher"]) {
      const { folder, configs } = await loadFixture(name);
      const caps = describeModel(folder, configs).capabilities;
      expect(caps?.samplers, name).toEqual([Sampler.FLOW_DPM_SOLVER, Sampler.FLOW_EULER]);
      expect(caps?.supportsGuidanceEmbedding, name).toBe(false);
      expect(caps?.defaultSteps, name).toBe(20);
    }
  });

  it("gives SANA-Sprint the SCM sampler, 2 default steps and guidance embedding without negative prompts", async () => {
    const { folder, configs } = await loadFixture("tiny-sana-sprint");
    const info = describeModel(folder, configs, { id: "sana-sprint" });
    expect(info.id).toBe("sana-sprint");
    expect(info.pipelineClass).toBe("SanaSprintPipeline");
    expect(info.capabilities).toMatchObject({
      nativeResolution: 1024,
      samplers: [Sampler.SCM],
      defaultSampler: Sampler.SCM,
      defaultSteps: 2,
      maxSteps: 4,
      defaultGuidanceScale: 4.5,
      supportsGuidanceEmbedding: true,
      supportsNegativePrompt: false,
      supportsPag: false,
    });
  });
});

describe("describeModel on derived configs", () => {
  it("maps sample_size 16 and 64 to 512 and 2048 px", async () => {
    const { folder, configs } = await loadFixture("tiny-sana");
    for (const [sampleSize, pixels] of [
      [16, 512],
      [64, 2048],
    ] as const) {
      const caps = describeModel(folder, {
        ...configs,
        transformer: { ...configs.transformer, sample_size: sampleSize },
      }).capabilities;
      expect(caps?.nativeResolution).toBe(pixels);
    }
  });

  it("makes Flow-Euler the default when the folder ships FlowMatchEulerDiscreteScheduler", async () => {
    const { folder, configs } = await loadFixture("tiny-sana");
    const eulerFolder = {
      ...folder,
      components: folder.components.map((c) =>
        c.name === "scheduler" ? { ...c, className: "FlowMatchEulerDiscreteScheduler" } : c,
      ),
    };
    const caps = describeModel(eulerFolder, {
      ...configs,
      scheduler: { _class_name: "FlowMatchEulerDiscreteScheduler", shift: 3 },
    }).capabilities;
    expect(caps?.samplers).toEqual([Sampler.FLOW_EULER, Sampler.FLOW_DPM_SOLVER]);
    expect(caps?.defaultSampler).toBe(Sampler.FLOW_EULER);
  });

  it("refuses folders the engine cannot serve, naming the file and the field", async () => {
    const { folder, configs } = await loadFixture("tiny-sana");
    const sprint = await loadFixture("tiny-sana-sprint");
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        "unknown pipeline",
        () => describeModel({ ...folder, pipelineClass: "SanaControlNetPipeline" }, configs),
        /model_index\.json: pipeline class SanaControlNetPipeline is not supported/,
      ],
      [
        "missing vae",
        () =>
          describeModel(
            { ...folder, components: folder.components.filter((c) => c.name !== "vae") },
            configs,
          ),
        /component "vae" is missing/,
      ],
      [
        "bad sample_size",
        () => describeModel(folder, { ...configs, transformer: { ...configs.transformer, sample_size: 0 } }),
        /transformer\/config\.json: sample_size is 0; expected a positive integer/,
      ],
      [
        "scheduler class disagreeing with model_index.json",
        () => describeModel(folder, { ...configs, scheduler: sprint.configs.scheduler }),
        /scheduler_config\.json: _class_name is SCMScheduler but model_index\.json declares DPMSolverMultistepScheduler/,
      ],
      [
        "DPM without flow sigmas",
        () =>
          describeModel(folder, { ...configs, scheduler: { ...configs.scheduler, use_flow_sigmas: false } }),
        /must have use_flow_sigmas true/,
      ],
      [
        "Sprint weights under SanaPipeline",
        () => describeModel(folder, { ...configs, transformer: sprint.configs.transformer }),
        /guidance_embeds is true but the pipeline is SanaPipeline/,
      ],
    ];
    for (const [label, call, message] of cases) {
      expect(call, label).toThrow(ModelConfigError);
      expect(call, label).toThrow(message);
    }
  });
});
