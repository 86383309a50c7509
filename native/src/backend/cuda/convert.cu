// Dtype conversion and the GEMM epilogue: the glue between float32 activations and the
// bf16 tensor-core GEMMs of gemm.cpp.
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"

namespace sana::cuda::kernels {

namespace {

__global__ void to_bf16_kernel(const float* src, int64_t rows, int64_t cols, int64_t src_stride, __nv_bfloat16* dst) {
  const int64_t n = rows * cols;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    dst[i] = __float2bfloat16_rn(src[r * src_stride + c]);
  }
}

__global__ void bias_act_kernel(const float* t, int64_t t_stride, int64_t rows, int64_t cols, const float* bias,
                                Activation act, bool accumulate, float* y, int64_t y_stride) {
  const int64_t n = rows * cols;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    float v = t[r * t_stride + c];
    if (bias != nullptr) v += bias[c];
    v = cuda::activate(act, v);  // qualified: kernels::activate is the launcher
    float* out = y + r * y_stride + c;
    *out = accumulate ? *out + v : v;
  }
}

__global__ void fill_kernel(float* x, float value, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = value;
}

}  // namespace

void to_bf16(cudaStream_t stream, const float* src, int64_t rows, int64_t cols, int64_t src_stride,
             __nv_bfloat16* dst) {
  if (rows <= 0 || cols <= 0) return;
  to_bf16_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(src, rows, cols, src_stride, dst);
  SANA_CUDA_CHECK_LAUNCH();
}

void bias_act(cudaStream_t stream, const float* t, int64_t t_stride, int64_t rows, int64_t cols, const float* bias,
              Activation act, bool accumulate, float* y, int64_t y_stride) {
  if (rows <= 0 || cols <= 0) return;
  bias_act_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(t, t_stride, rows, cols, bias, act, accumulate, y,
                                                                  y_stride);
  SANA_CUDA_CHECK_LAUNCH();
}

void fill(cudaStream_t stream, float* x, float value, int64_t n) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, value, n);
  SANA_CUDA_CHECK_LAUNCH();
}

}  // namespace sana::cuda::kernels
