// A plain shared-memory tiled GEMM: the path for the products cuBLASLt has no algorithm for
// (odd alignments, e.g. the 27-column im2col rows of a 3-channel 3x3 conv in bf16). Slow but
// exact in float32 accumulation, and any strides and transposes.
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"

namespace sana::cuda::kernels {

namespace {

constexpr int kTile = 16;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__global__ void gemm_tiled_kernel(int64_t m, int64_t n, int64_t k, float alpha, const T* a, int64_t lda, bool ta,
                                  const T* b, int64_t ldb, bool tb, float beta, float* c, int64_t ldc) {
  __shared__ float as[kTile][kTile + 1];
  __shared__ float bs[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kTile + tx;
  const int64_t row_tiles = (m + kTile - 1) / kTile;
  // gridDim.y is capped at 65535: loop over the row tiles beyond it.
  for (int64_t tile = blockIdx.y; tile < row_tiles; tile += gridDim.y) {
    const int64_t row = tile * kTile + ty;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < k; k0 += kTile) {
      const int64_t ak = k0 + tx, bk = k0 + ty;
      as[ty][tx] = row < m && ak < k ? to_float(ta ? a[ak * lda + row] : a[row * lda + ak]) : 0.0f;
      bs[ty][tx] = bk < k && col < n ? to_float(tb ? b[col * ldb + bk] : b[bk * ldb + col]) : 0.0f;
      __syncthreads();
      for (int kk = 0; kk < kTile; ++kk) acc = fmaf(as[ty][kk], bs[kk][tx], acc);
      __syncthreads();
    }
    if (row < m && col < n) {
      float* out = c + row * ldc + col;
      *out = beta == 0.0f ? alpha * acc : alpha * acc + beta * *out;  // beta 0 never reads c
    }
  }
}

template <typename T>
void launch(cudaStream_t stream, int64_t m, int64_t n, int64_t k, float alpha, const T* a, int64_t lda, bool ta,
            const T* b, int64_t ldb, bool tb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const int64_t col_tiles = (n + kTile - 1) / kTile, row_tiles = (m + kTile - 1) / kTile;
  const dim3 grid(static_cast<unsigned>(col_tiles), static_cast<unsigned>(row_tiles < 65535 ? row_tiles : 65535));
  gemm_tiled_kernel<T><<<grid, dim3(kTile, kTile), 0, stream>>>(m, n, k, alpha, a, lda, ta, b, ldb, tb, beta, c, ldc);
  SANA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void gemm_fallback(cudaStream_t stream, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   bool ta, const float* b, int64_t ldb, bool tb, float beta, float* c, int64_t ldc) {
  launch(stream, m, n, k, alpha, a, lda, ta, b, ldb, tb, beta, c, ldc);
}

void gemm_fallback(cudaStream_t stream, int64_t m, int64_t n, int64_t k, float alpha, const __nv_bfloat16* a,
                   int64_t lda, bool ta, const __nv_bfloat16* b, int64_t ldb, bool tb, float beta, float* c,
                   int64_t ldc) {
  launch(stream, m, n, k, alpha, a, lda, ta, b, ldb, tb, beta, c, ldc);
}

}  // namespace sana::cuda::kernels
