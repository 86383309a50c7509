#pragma once
// What the C++ golden runners share: their arguments ([golden dir] [backend]) and the
// tolerance rule of golden/tolerance.ts: the manifest's tolerances are for float32 engines,
// so the CUDA backend's bf16 GEMMs are judged at relative L2 <= 1e-2 at least
// (SANA_CUDA_GEMM=fp32 keeps the manifest's).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sana::golden {

struct Args {
  std::filesystem::path dir = "test/fixtures/golden";
  std::string backend = "cpu";
};

inline Args parse_args(int argc, char** argv) {
  Args a;
  if (argc > 1) a.dir = argv[1];
  if (argc > 2) a.backend = argv[2];
  return a;
}

inline bool bf16_gemms(const std::string& backend) {
  const char* mode = std::getenv("SANA_CUDA_GEMM");
  return backend == "cuda" && (mode == nullptr || std::string(mode) != "fp32");
}

inline double tolerance(double manifest, const std::string& backend) {
  return bf16_gemms(backend) ? std::max(manifest, 1e-2) : manifest;
}

}  // namespace sana::golden
