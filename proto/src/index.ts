// The edge⇄sidecar contract: the generated sana.v1 and grpc.health.v1 code
// (never edited by hand; `npm run generate -w proto`), plus the helpers both
// sides share to move the final image in chunks.

export * from "./formats.js";
export * from "./gen/grpc/health/v1/health_pb.js";
export * from "./gen/sana/v1/common_pb.js";
export * from "./gen/sana/v1/generate_pb.js";
export * from "./gen/sana/v1/image_service_pb.js";
export * from "./gen/sana/v1/load_pb.js";
export * from "./gen/sana/v1/model_pb.js";
export * from "./image-assembler.js";
export * from "./image-chunks.js";
export { sha256, toHex } from "./web-crypto.js";
