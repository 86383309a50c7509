// Public surface of the sidecar package: the engine wrapper, the server and its parts.
export * from "./engine/models.js";
export * from "./engine/python-json.js";
export * from "./engine/served-model.js";
export * from "./engine/text-to-image.js";
export * from "./images/encode.js";
export { createLogger, type Logger } from "./ops/log.js";
export { SidecarMetrics } from "./ops/metrics.js";
export { DEFAULT_SIDECAR_CONFIG, type Sidecar, type SidecarConfig, startSidecar } from "./server/sidecar.js";
export { RETRY_AFTER_TRAILER } from "./service/image-service.js";
export { type JobSpec, validateGenerateRequest } from "./service/validate.js";
