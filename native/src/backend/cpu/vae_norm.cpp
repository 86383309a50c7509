// DC-AE's channel RMSNorm (diffusers RMSNorm with weight and bias, applied with channels
// last) with the block's residual add fused in.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace sana::cpu {

void CpuBackend::rms_norm_affine(const float* x, int64_t rows, int64_t d, const float* weight, const float* bias,
                                 float eps, const float* residual, float* y) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1));
  pool_.parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * d;
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(d)) + eps);
      float* yr = y + r * d;
      // The reference's order: ((x * rsqrt) * weight + bias) + residual.
      if (residual) {
        const float* rr = residual + r * d;
        for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] * inv * weight[i] + bias[i]) + rr[i];
      } else {
        for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * weight[i] + bias[i];
      }
    }
  });
}

}  // namespace sana::cpu
