import {
  type AspectRatioBinTable,
  aspectRatioBinTable,
  binResolution,
} from "../../../lib/resolution-binning.js";
import type { JsonValue } from "../../../lib/types.js";
import type { CaseContext, ComponentHandler, HandlerResult } from "../handler.js";
import type { ManifestCase } from "../manifest.js";

// The pipeline's resolution binning case: rows of [sample_size, height, width] requests, each
// binned as SanaPipeline bins it (lib/resolution-binning.ts). It is a "pipeline" case without
// latents, so it shares the component with the denoising cases of handlers/pipeline.ts;
// withResolutionBinning() puts both behind the one "pipeline" entry the runner looks up.

/** The cases this handler runs: pipeline cases that give binning requests, not latents. */
export function claimsResolutionBinning(testCase: ManifestCase): boolean {
  return testCase.component === "pipeline" && Object.hasOwn(testCase.inputs, "requests");
}

function describeBin(ratio: string, value: JsonValue | undefined): string {
  return `"${ratio}": ${JSON.stringify(value)}`;
}

/**
 * The case records the tables it was generated with (params.bins, keyed by sample_size); a
 * difference from ours means a transcription error, which must fail loudly rather than only
 * when a request happens to land on the wrong entry.
 */
function checkRecordedBins(testCase: ManifestCase): void {
  const recorded = testCase.params.bins;
  if (recorded === undefined) return;
  if (typeof recorded !== "object" || recorded === null || Array.isArray(recorded)) {
    throw new Error(`${testCase.name}: params.bins must be an object keyed by sample_size`);
  }
  for (const [sampleSize, entries] of Object.entries(recorded)) {
    const where = `${testCase.name}: params.bins["${sampleSize}"]`;
    if (typeof entries !== "object" || entries === null || Array.isArray(entries)) {
      throw new Error(`${where} must be an object of ratio -> [height, width]`);
    }
    const table: AspectRatioBinTable = aspectRatioBinTable(Number(sampleSize));
    const recordedRows = Object.entries(entries);
    if (recordedRows.length !== table.length) {
      throw new Error(`${where} has ${recordedRows.length} bins, the engine's table ${table.length}`);
    }
    recordedRows.forEach(([ratio, hw], i) => {
      const bin = table[i];
      const same =
        bin !== undefined &&
        bin.ratio === ratio &&
        Array.isArray(hw) &&
        hw.length === 2 &&
        hw[0] === bin.height &&
        hw[1] === bin.width;
      if (!same) {
        const ours = bin === undefined ? "nothing" : describeBin(bin.ratio, [bin.height, bin.width]);
        throw new Error(`${where} entry ${i} is ${describeBin(ratio, hw)}, the engine's table has ${ours}`);
      }
    });
  }
}

export const resolutionBinningHandler: ComponentHandler = {
  component: "pipeline",
  runsModel: () => false,

  async run({ testCase, tensors }: CaseContext): Promise<HandlerResult> {
    checkRecordedBins(testCase);
    const requests = tensors.int64("requests");
    const [rows = 0, columns = 0] = requests.shape;
    if (requests.shape.length !== 2 || columns !== 3) {
      throw new Error(
        `${testCase.name}: requests must be [n, 3] rows of [sample_size, height, width], got [${requests.shape.join(", ")}]`,
      );
    }
    const binned = new BigInt64Array(rows * 2);
    for (let r = 0; r < rows; r += 1) {
      const [sampleSize = 0, height = 0, width = 0] = Array.from(
        requests.data.subarray(r * 3, r * 3 + 3),
        Number,
      );
      const bin = binResolution(sampleSize, height, width);
      binned[r * 2] = BigInt(bin.height);
      binned[r * 2 + 1] = BigInt(bin.width);
    }
    return { produced: { binned_hw: { shape: [rows, 2], data: binned } }, unsupported: {} };
  },
};

/** The "pipeline" handler: binning cases here, every other case to `denoising`. */
export function withResolutionBinning(denoising: ComponentHandler): ComponentHandler {
  return {
    component: denoising.component,
    unsupportedCase: (testCase) =>
      claimsResolutionBinning(testCase) ? undefined : denoising.unsupportedCase?.(testCase),
    runsModel: (testCase) =>
      claimsResolutionBinning(testCase) ? false : (denoising.runsModel?.(testCase) ?? true),
    run: (context) =>
      claimsResolutionBinning(context.testCase)
        ? resolutionBinningHandler.run(context)
        : denoising.run(context),
  };
}
