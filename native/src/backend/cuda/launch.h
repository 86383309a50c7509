#pragma once
// What every kernel file shares: the launch check, grid sizing and the activations, so the
// CUDA kernels compute the same functions as cpu/ (expf, tanhf: float32 like the CPU).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"
#include "backend/cuda/check.h"

// After every <<<...>>>: a bad configuration is reported at the launch, not at a later sync.
#define SANA_CUDA_CHECK_LAUNCH() SANA_CUDA_CHECK(cudaGetLastError())

namespace sana::cuda {

constexpr int kThreads = 256;

// Blocks for a one-thread-per-element launch over n elements (grid-stride loops cover the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 16 ? 65535 * 16 : blocks));
}

__device__ __forceinline__ float gelu_tanh(float x) {
  constexpr float kAlpha = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + tanhf(kAlpha * (x + 0.044715f * x * x * x)));
}

__device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }

__device__ __forceinline__ float activate(Activation act, float x) {
  switch (act) {
    case Activation::ReLU:
      return x > 0.0f ? x : 0.0f;
    case Activation::GeluTanh:
      return gelu_tanh(x);
    case Activation::SiLU:
      return silu(x);
    case Activation::None:
    default:
      return x;
  }
}

// Sum over a warp, every lane gets the total.
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// total. `shared` holds 32 floats; the call ends with the block synchronised.
__device__ __forceinline__ float block_sum(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = lane < warps ? shared[lane] : 0.0f;
  total = warp_sum(total);
  return total;
}

}  // namespace sana::cuda
