// GLUMBConv's depthwise 3x3 convolution fused with its GLU, on token-major (NHWC) data so
// each tap is a contiguous channel vector.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/simd.h"

namespace sana::cpu {

namespace {

float silu(float v) { return v / (1.0f + std::exp(-v)); }

}  // namespace

void CpuBackend::dwconv3x3_glu(const float* x, int64_t batch, int64_t h, int64_t w, int64_t half, const float* weight,
                               const float* bias, float* out) {
  using simd::kWidth;
  using simd::Vec;
  const int64_t channels = 2 * half;
  const int64_t vec_end = half / kWidth * kWidth;
  pool_.parallel_for(0, batch * h, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t by = lo; by < hi; ++by) {
      const int64_t b = by / h, y = by % h;
      for (int64_t xx = 0; xx < w; ++xx) {
        // Taps inside the image; padding contributes zero, so out-of-range taps are skipped.
        const float* src[9];
        int taps[9];
        int n = 0;
        for (int ky = 0; ky < 3; ++ky) {
          const int64_t sy = y + ky - 1;
          if (sy < 0 || sy >= h) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int64_t sx = xx + kx - 1;
            if (sx < 0 || sx >= w) continue;
            src[n] = x + ((b * h + sy) * w + sx) * channels;
            taps[n++] = ky * 3 + kx;
          }
        }
        float* o = out + ((b * h + y) * w + xx) * half;
        for (int64_t c = 0; c < vec_end; c += kWidth) {
          Vec a = simd::load(bias + c), g = simd::load(bias + half + c);
          for (int t = 0; t < n; ++t) {
            const float* wt = weight + taps[t] * channels;
            a += simd::load(wt + c) * simd::load(src[t] + c);
            g += simd::load(wt + half + c) * simd::load(src[t] + half + c);
          }
          simd::store(o + c, a * simd::silu(g));
        }
        for (int64_t c = vec_end; c < half; ++c) {
          float a = bias[c], g = bias[half + c];
          for (int t = 0; t < n; ++t) {
            const float* wt = weight + taps[t] * channels;
            a += wt[c] * src[t][c];
            g += wt[half + c] * src[t][half + c];
          }
          o[c] = a * silu(g);
        }
      }
    }
  });
}

}  // namespace sana::cpu
