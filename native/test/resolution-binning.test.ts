import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ASPECT_RATIO_512_BIN,
  ASPECT_RATIO_1024_BIN,
  ASPECT_RATIO_2048_BIN,
  ASPECT_RATIO_4096_BIN,
  type AspectRatioBinTable,
  aspectRatioBinTable,
  binResolution,
  classifyHeightWidthBin,
  planResizeAndCrop,
} from "../lib/resolution-binning.js";
import type { SafetensorsContents } from "../lib/types.js";
import { CaseTensors } from "../tools/golden/case-tensors.js";
import type { CaseContext, ComponentHandler, HandlerResult } from "../tools/golden/handler.js";
import {
  claimsResolutionBinning,
  resolutionBinningHandler,
  withResolutionBinning,
} from "../tools/golden/handlers/resolution-binning.js";
import { type ManifestCase, readManifest } from "../tools/golden/manifest.js";
import { goldenDir, makeTempDir, type TempDir } from "./helpers/fixtures.js";
import { bigInt64Values, rawTensors } from "./helpers/safetensors.js";

// SanaPipeline's resolution binning: the bin tables, the choice of bin, the resize-and-crop
// back to the request, and the golden case pipeline_resolution_binning.

const tables: [string, AspectRatioBinTable][] = [
  ["512", ASPECT_RATIO_512_BIN],
  ["1024", ASPECT_RATIO_1024_BIN],
  ["2048", ASPECT_RATIO_2048_BIN],
  ["4096", ASPECT_RATIO_4096_BIN],
];

const manifest = readManifest(goldenDir);
const binningCase = manifest.cases.find((c) => c.name === "pipeline_resolution_binning");
if (binningCase === undefined) throw new Error("the fixture set has no pipeline_resolution_binning case");
const caseFile = join(goldenDir, binningCase.file);

function caseInt64(name: string): { shape: number[]; values: number[] } {
  const tensor = rawTensors(caseFile)[name];
  if (tensor === undefined) throw new Error(`${binningCase?.file} has no ${name}`);
  return { shape: tensor.shape, values: Array.from(bigInt64Values(tensor.bytes), Number) };
}

function caseContents(): SafetensorsContents {
  const contents: SafetensorsContents = {};
  for (const [name, tensor] of Object.entries(rawTensors(caseFile))) {
    contents[name] = { dtype: "I64", shape: tensor.shape, data: bigInt64Values(tensor.bytes) };
  }
  return contents;
}

function contextFor(testCase: ManifestCase): CaseContext {
  return {
    setDir: goldenDir,
    manifest,
    testCase,
    tensors: new CaseTensors(testCase, caseContents()),
    modelDir: null,
  };
}

describe("the aspect-ratio bin tables", () => {
  it.each(tables)("%s px: every bin is a multiple of 32 on both sides", (_, table) => {
    for (const bin of table) {
      expect(bin.height % 32, `${bin.ratio}: ${bin.height}`).toBe(0);
      expect(bin.width % 32, `${bin.ratio}: ${bin.width}`).toBe(0);
    }
  });

  it.each(tables)("%s px: ratios ascend and each is its bin's height / width to 2 decimals", (_, table) => {
    let previous = 0;
    for (const bin of table) {
      const ratio = Number(bin.ratio);
      expect(ratio).toBeGreaterThan(previous);
      expect(Math.abs(ratio - bin.height / bin.width), bin.ratio).toBeLessThanOrEqual(0.0051);
      previous = ratio;
    }
  });

  it("has the square bin at the table's resolution and spans ratios 1:4 to 4:1", () => {
    for (const [px, table] of tables) {
      const side = Number(px);
      expect(table.find((b) => b.ratio === "1.0")).toEqual({ ratio: "1.0", height: side, width: side });
      expect(table[0]).toEqual({ ratio: "0.25", height: side / 2, width: side * 2 });
      expect(table[table.length - 1]).toEqual({ ratio: "4.0", height: side * 2, width: side / 2 });
    }
  });

  it("is chosen by transformer sample_size (16, 32, 64, 128) and refuses any other", () => {
    expect(aspectRatioBinTable(16)).toBe(ASPECT_RATIO_512_BIN);
    expect(aspectRatioBinTable(32)).toBe(ASPECT_RATIO_1024_BIN);
    expect(aspectRatioBinTable(64)).toBe(ASPECT_RATIO_2048_BIN);
    expect(aspectRatioBinTable(128)).toBe(ASPECT_RATIO_4096_BIN);
    expect(() => aspectRatioBinTable(48)).toThrow(/sample_size 48/);
  });
});

describe("classifyHeightWidthBin", () => {
  it.each(tables)("%s px: a request of exactly a bin's size gets that bin", (_, table) => {
    for (const bin of table) {
      expect(classifyHeightWidthBin(bin.height, bin.width, table)).toEqual({
        height: bin.height,
        width: bin.width,
      });
    }
  });

  it("picks the closest ratio, not the closest size", () => {
    // 1920x1080 (ratio 1.78): the 1.75 bin, 1344x768, whatever the pixel count.
    expect(binResolution(32, 1920, 1080)).toEqual({ height: 1344, width: 768 });
    expect(binResolution(32, 64, 64)).toEqual({ height: 1024, width: 1024 });
    // Beyond the table's range: the extreme bins.
    expect(binResolution(16, 100, 10_000)).toEqual({ height: 256, width: 1024 });
    expect(binResolution(128, 10_000, 100)).toEqual({ height: 8192, width: 2048 });
  });

  it("gives a tie to the earlier bin in table order, as Python's min() does", () => {
    const low = { ratio: "0.5", height: 32, width: 64 };
    const high = { ratio: "1.5", height: 96, width: 64 };
    // height / width = 1.0: both bins are exactly 0.5 away.
    expect(classifyHeightWidthBin(7, 7, [low, high])).toEqual({ height: 32, width: 64 });
    expect(classifyHeightWidthBin(7, 7, [high, low])).toEqual({ height: 96, width: 64 });
  });

  it("refuses sizes that are not positive integers", () => {
    expect(() => classifyHeightWidthBin(0, 512, ASPECT_RATIO_512_BIN)).toThrow(/height.*got 0/);
    expect(() => classifyHeightWidthBin(512, 12.5, ASPECT_RATIO_512_BIN)).toThrow(/width.*got 12.5/);
    expect(() => classifyHeightWidthBin(512, 512, [])).toThrow(/empty/);
  });

  it("bins every request of the golden case to the recorded size", () => {
    const requests = caseInt64("requests");
    const expected = caseInt64("binned_hw");
    expect(requests.shape).toEqual([32, 3]);
    const binned = [];
    for (let r = 0; r * 3 < requests.values.length; r += 1) {
      const [sampleSize, height, width] = requests.values.slice(r * 3, r * 3 + 3) as [number, number, number];
      const bin = binResolution(sampleSize, height, width);
      binned.push(bin.height, bin.width);
    }
    expect(binned).toEqual(expected.values);
  });
});

describe("planResizeAndCrop", () => {
  it("leaves an image that already has the requested size alone", () => {
    expect(planResizeAndCrop({ height: 1024, width: 1024 }, { height: 1024, width: 1024 })).toEqual({
      resize: { height: 1024, width: 1024 },
      crop: { top: 0, left: 0, height: 1024, width: 1024 },
      needed: false,
    });
  });

  // Expected values from the reference formula (int() of the float64 product, // 2 offsets).
  it.each([
    // request, bin, resize, crop offsets
    [{ height: 768, width: 1360 }, { height: 768, width: 1344 }, { height: 777, width: 1360 }, [4, 0]],
    [{ height: 900, width: 1600 }, { height: 768, width: 1344 }, { height: 914, width: 1600 }, [7, 0]],
    [{ height: 333, width: 777 }, { height: 320, width: 768 }, { height: 333, width: 799 }, [0, 11]],
    [{ height: 128, width: 192 }, { height: 832, width: 1216 }, { height: 131, width: 192 }, [1, 0]],
    [{ height: 4096, width: 2160 }, { height: 1408, width: 704 }, { height: 4320, width: 2160 }, [112, 0]],
  ])("request %o from bin %o: resize to %o, crop at %o", (requested, binned, resize, [top, left]) => {
    expect(planResizeAndCrop(binned, requested)).toEqual({
      resize,
      crop: { top, left, height: requested.height, width: requested.width },
      needed: true,
    });
  });

  it("keeps the requested size where float64 rounding makes the reference's resize a pixel short", () => {
    // 928 * (944 / 928) = 943.99... in float64: the reference resizes to 260x943 and its
    // slice [-1:943] keeps one column. The exact resize is 260x944.
    const requested = { height: 256, width: 944 };
    const binned = binResolution(16, requested.height, requested.width);
    expect(binned).toEqual({ height: 256, width: 928 });
    expect(Math.trunc(binned.width * (requested.width / binned.width))).toBe(943);
    expect(planResizeAndCrop(binned, requested)).toEqual({
      resize: { height: 260, width: 944 },
      crop: { top: 2, left: 0, height: 256, width: 944 },
      needed: true,
    });
  });

  it("always crops a window of the requested size inside the resized image that covers it", () => {
    for (let height = 200; height <= 2200; height += 56) {
      for (let width = 200; width <= 2200; width += 40) {
        const binned = binResolution(32, height, width);
        const { resize, crop } = planResizeAndCrop(binned, { height, width });
        expect(crop.top).toBeGreaterThanOrEqual(0);
        expect(crop.left).toBeGreaterThanOrEqual(0);
        expect(crop.top + height).toBeLessThanOrEqual(resize.height);
        expect(crop.left + width).toBeLessThanOrEqual(resize.width);
        // The resize keeps the bin's aspect ratio up to the truncation of one side.
        expect(Math.min(resize.height - height, resize.width - width)).toBe(0);
      }
    }
  });
});

describe("the golden case pipeline_resolution_binning", () => {
  it("is claimed by the binning handler; denoising pipeline cases are not", () => {
    expect(claimsResolutionBinning(binningCase)).toBe(true);
    const denoising = manifest.cases.filter((c) => c.component === "pipeline" && c !== binningCase);
    expect(denoising.length).toBeGreaterThan(0);
    for (const c of denoising) expect(claimsResolutionBinning(c), c.name).toBe(false);
  });

  it("sends binning cases to the binning handler and every other pipeline case on", async () => {
    const seen: string[] = [];
    const denoising: ComponentHandler = {
      component: "pipeline",
      unsupportedCase: (c) => `denoising handler asked about ${c.name}`,
      run: async ({ testCase }): Promise<HandlerResult> => {
        seen.push(testCase.name);
        return { produced: {}, unsupported: {} };
      },
    };
    const handler = withResolutionBinning(denoising);
    const other = manifest.cases.find((c) => c.component === "pipeline" && c !== binningCase);
    if (other === undefined) throw new Error("the fixture set has no denoising pipeline case");
    expect(handler.component).toBe("pipeline");
    expect(handler.unsupportedCase?.(binningCase)).toBeUndefined();
    expect(handler.unsupportedCase?.(other)).toMatch(other.name);
    const result = await handler.run(contextFor(binningCase));
    expect(Object.keys(result.produced)).toEqual(["binned_hw"]);
    expect(seen).toEqual([]);
    await handler.run({ ...contextFor(binningCase), testCase: other });
    expect(seen).toEqual([other.name]);
  });

  it("fails when the case's recorded bin table differs from the engine's", async () => {
    const bins = structuredClone(binningCase.params.bins) as Record<string, Record<string, number[]>>;
    const square = bins["32"];
    if (square === undefined) throw new Error("params.bins has no table for sample_size 32");
    square["1.0"] = [1024, 992];
    const edited: ManifestCase = { ...binningCase, params: { ...binningCase.params, bins } };
    await expect(resolutionBinningHandler.run(contextFor(edited))).rejects.toThrow(
      /bins\["32"\] entry 18 is "1\.0": \[1024,992\], the engine's table has "1\.0": \[1024,1024\]/,
    );
  });

  describe("through the golden runner", () => {
    let temp: TempDir;
    beforeAll(() => {
      temp = makeTempDir("resolution-binning");
    });
    afterAll(() => temp.remove());

    it("matches binned_hw exactly", async () => {
      // A set of just this case: it needs no model, so none is copied.
      const setDir = join(temp.path, "set");
      mkdirSync(join(setDir, "cases"), { recursive: true });
      copyFileSync(caseFile, join(setDir, binningCase.file));
      writeFileSync(
        join(setDir, "cases", "manifest.json"),
        JSON.stringify({ format_version: 1, models: {}, cases: [{ ...binningCase }] }),
      );
      // The runner loads the engine's addon (for its safetensors reader).
      const { runGoldenSet } = await import("../tools/golden/run.js");
      const report = await runGoldenSet(setDir);
      expect(report.rows).toEqual([
        expect.objectContaining({
          case: "pipeline_resolution_binning",
          output: "binned_hw",
          tolerance: "exact",
          status: "pass",
          error: 0,
        }),
      ]);
    });
  });
});
