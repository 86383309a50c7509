// Types of everything the sana_native addon exports. The addon is plain N-API, so these are
// the contract: each binding file in src/node/ has its functions described here.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Element types as safetensors names them. */
export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";
/** The dtypes model weights may be stored in; one per component. */
export type WeightDType = "F32" | "F16" | "BF16";

interface TypedEntry<D extends DType, A> {
  dtype: D;
  shape: number[];
  data: A;
}

/**
 * One tensor of a safetensors file. F32/F16/BF16 are widened to Float32Array, I64 stays exact
 * in a BigInt64Array, F64 keeps a Float64Array, smaller integers arrive as Int32Array and
 * U8/BOOL as Uint8Array.
 */
export type SafetensorsEntry =
  | TypedEntry<"F32" | "F16" | "BF16", Float32Array>
  | TypedEntry<"F64", Float64Array>
  | TypedEntry<"I64", BigInt64Array>
  | TypedEntry<"I32" | "I16" | "I8", Int32Array>
  | TypedEntry<"U8" | "BOOL", Uint8Array>;

export type SafetensorsContents = Record<string, SafetensorsEntry>;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: TensorInfo[];
}

export type ComponentKind = "model" | "scheduler" | "tokenizer" | "processor";

export interface ComponentInfo {
  name: string;
  library: string;
  className: string;
  kind: ComponentKind;
  hasWeights: boolean;
  configPath: string;
}

export interface ModelFolderInfo {
  root: string;
  pipelineClass: string;
  components: ComponentInfo[];
}

export interface WeightsInfo {
  component: string;
  className: string;
  dtype: WeightDType;
  tensorCount: number;
  totalBytes: number;
  /** The safetensors files behind the component: one, or each shard once. */
  files: string[];
  tensors: TensorInfo[];
}

export interface BuildInfo {
  cuda: boolean;
  cblas: boolean;
  compiler: string;
  napiVersion: number;
  buildType: "release" | "debug";
  cudaCompiler?: string;
  cudaArchitectures?: string;
}

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  multiprocessors: number;
  totalMemory: number;
  freeMemory: number;
}

export interface CudaInfo {
  runtimeVersion: number;
  driverVersion: number;
  deviceCount: number;
  devices: CudaDevice[];
}

export interface CudaSelfTestResult {
  device: number;
  elements: number;
  maxAbsError: number;
  milliseconds: number;
}

export interface NativeBinding {
  buildInfo(): BuildInfo;

  /** Reads model_index.json and checks every listed component folder and its config file. */
  openModelFolder(root: string): ModelFolderInfo;
  /** Opens a component's weights and validates dtypes and config-implied shapes. */
  inspectWeights(root: string, component: string): WeightsInfo;
  /** The component's config file, parsed (Python's NaN/Infinity become numbers). */
  readConfig(root: string, component: string): JsonValue;
  readJson(file: string): JsonValue;
  /** Every tensor of a safetensors file (or of a *.safetensors.index.json's shards). */
  readSafetensors(file: string): SafetensorsContents;
  safetensorsHeader(file: string): SafetensorsHeader;

  /** Throws an Error saying no CUDA device/driver is available where there is none. */
  cudaInfo(): CudaInfo;
  cudaSelfTest(elements?: number): CudaSelfTestResult;
}
