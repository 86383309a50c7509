import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { NativeBinding } from "./types.js";

export * from "./denoise.js";
export * from "./dit.js";
export * from "./noise.js";
export * from "./resolution-binning.js";
export * from "./sampler.js";
export * from "./tensors.js";
export * from "./text-encoder.js";
export type * from "./types.js";
export * from "./vae.js";

// lib/ (sources under vitest) and dist/ (compiled) both sit next to build/.
const defaultAddonPath = fileURLToPath(new URL("../build/Release/sana_native.node", import.meta.url));

function loadAddon(): NativeBinding {
  // SANA_NATIVE_ADDON points at another build (e.g. one made without CUDA) of the same addon.
  const path = process.env.SANA_NATIVE_ADDON ?? defaultAddonPath;
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeBinding;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot load the sana_native addon from ${path} (build it: npm run build -w native): ${reason}`,
    );
  }
}

export const native: NativeBinding = loadAddon();

export const {
  buildInfo,
  openModelFolder,
  inspectWeights,
  readConfig,
  readJson,
  readSafetensors,
  safetensorsHeader,
  cudaInfo,
  cudaSelfTest,
} = native;
