#pragma once
// Matrix products on the tensor cores through cuBLASLt, in row-major terms like
// Backend::gemm. Inputs are float32 (fp32 math, the exact path) or bf16 (tensor cores);
// accumulation and the output are float32 either way. The algorithm cuBLASLt picks for a
// shape is cached, so the step loop asks the heuristic once per shape; shapes it declines
// (odd alignments) run on a plain tiled kernel instead.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "backend/cuda/device_buffer.h"
#include "sana/ops.h"

namespace sana::cuda {

enum class GemmInput : uint8_t { F32, BF16 };

// c[m, n] = alpha * op(a) op(b) + beta * c, all row-major with row strides lda/ldb/ldc; a and
// b hold `input` elements.
struct GemmCall {
  Trans ta = Trans::No, tb = Trans::No;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const void* a = nullptr;
  int64_t lda = 0;
  const void* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  GemmInput input = GemmInput::F32;
};

class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void run(const GemmCall& call, cudaStream_t stream);

 private:
  static void run_fallback(const GemmCall& call, cudaStream_t stream);
  using Key = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, int>;
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer<unsigned char> workspace_;
  std::mutex mutex_;
  // Per shape: cuBLASLt's algorithm, or nullopt where it has none (kernels::gemm_fallback).
  std::map<Key, std::optional<cublasLtMatmulAlgo_t>> algos_;
};

}  // namespace sana::cuda
