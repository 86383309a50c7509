#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backend/cpu/gemm.h"
#include "backend/cpu/simd.h"
#include "sana/error.h"

namespace sana::cpu {

namespace {

using simd::kWidth;
using simd::Vec;

// Rows per task so that one task touches at least ~16K floats: below that the fork/join
// costs more than the work.
int64_t row_grain(int64_t row_len) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1)); }

void release_host(float* p) { std::free(p); }

float gelu_tanh(float x) {
  constexpr float kAlpha = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + std::tanh(kAlpha * (x + 0.044715f * x * x * x)));
}

// Mean and 1/sqrt(var + eps) of n floats; double accumulation keeps the result as close to
// the exact value as float input allows.
void moments(const float* x, int64_t n, float eps, float& mean, float& rstd) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const double mu = s / static_cast<double>(n);
  double v = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mu;
    v += d * d;
  }
  v /= static_cast<double>(n);
  mean = static_cast<float>(mu);
  rstd = static_cast<float>(1.0 / std::sqrt(v + static_cast<double>(eps)));
}

}  // namespace

void apply_activation(Activation act, float* x, int64_t n) {
  switch (act) {
    case Activation::None:
      return;
    case Activation::ReLU:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Activation::GeluTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
      return;
    case Activation::SiLU: {
      int64_t i = 0;
      for (; i + kWidth <= n; i += kWidth) simd::store(x + i, simd::silu(simd::load(x + i)));
      if (i < n) {
        alignas(64) float tail[kWidth] = {};
        std::memcpy(tail, x + i, (n - i) * sizeof(float));
        simd::store(tail, simd::silu(simd::load(tail)));
        std::memcpy(x + i, tail, (n - i) * sizeof(float));
      }
      return;
    }
  }
}

CpuBackend::CpuBackend() : pool_(ThreadPool::global()) {}
CpuBackend::~CpuBackend() = default;

Buffer CpuBackend::alloc(size_t n) {
  const size_t bytes = (std::max<size_t>(n, 1) * sizeof(float) + 63) / 64 * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw Error("out of memory allocating " + std::to_string(bytes >> 20) + " MiB on the cpu backend");
  return Buffer(p, n, &release_host);
}

void CpuBackend::upload(float* dst, const float* host, size_t n) { std::memcpy(dst, host, n * sizeof(float)); }
void CpuBackend::download(float* host, const float* src, size_t n) { std::memcpy(host, src, n * sizeof(float)); }
void CpuBackend::copy(float* dst, const float* src, size_t n) { std::memcpy(dst, src, n * sizeof(float)); }

void CpuBackend::gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                      const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  sgemm_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

void CpuBackend::linear(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                        Activation act, float* y, bool accumulate, int64_t x_stride, int64_t y_stride) {
  if (x_stride == 0) x_stride = k;
  if (y_stride == 0) y_stride = n;
  if (!bias && act == Activation::None) {
    sgemm_ex(Trans::No, Trans::Yes, m, n, k, 1.0f, x, x_stride, w, k, accumulate ? 1.0f : 0.0f, y, y_stride, nullptr);
    return;
  }
  const GemmEpilogue epilogue = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* row = y + i * y_stride + j0;
      if (bias)
        for (int64_t j = j0; j < j1; ++j) row[j - j0] += bias[j];
      apply_activation(act, row, j1 - j0);
    }
  };
  sgemm_ex(Trans::No, Trans::Yes, m, n, k, 1.0f, x, x_stride, w, k, accumulate ? 1.0f : 0.0f, y, y_stride, &epilogue);
}

void CpuBackend::add_table(const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows, int64_t batch,
                           float* out) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      const float* tr = t + (b * t_rows + (t_rows == 1 ? 0 : r)) * d;
      float* o = out + (b * rows + r) * d;
      for (int64_t i = 0; i < d; ++i) o[i] = table[r * d + i] + tr[i];
    }
}

void CpuBackend::add(float* x, const float* y, int64_t n) {
  pool_.parallel_for(0, n, 1 << 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) x[i] += y[i];
  });
}

void CpuBackend::add_bias(float* x, int64_t rows, int64_t cols, const float* bias) {
  pool_.parallel_for(0, rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r)
      for (int64_t c = 0; c < cols; ++c) x[r * cols + c] += bias[c];
  });
}

void CpuBackend::activate(Activation act, float* x, int64_t rows, int64_t cols, int64_t stride) {
  pool_.parallel_for(0, rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) apply_activation(act, x + r * stride, cols);
  });
}

void CpuBackend::layer_norm_modulate(const float* x, int64_t batch, int64_t tokens, int64_t d, float eps,
                                     const float* shift, const float* scale, int64_t mod_stride, float* y) {
  pool_.parallel_for(0, batch * tokens, row_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = r / tokens;
      const float* xr = x + r * d;
      const float* sh = shift + b * mod_stride;
      const float* sc = scale + b * mod_stride;
      float mean, rstd;
      moments(xr, d, eps, mean, rstd);
      float* yr = y + r * d;
      for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - mean) * rstd * (1.0f + sc[i]) + sh[i];
    }
  });
}

void CpuBackend::rms_norm(const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight, float eps,
                          float* y, int64_t y_stride) {
  pool_.parallel_for(0, rows, row_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * x_stride;
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + static_cast<double>(eps)));
      float* yr = y + r * y_stride;
      if (weight) {
        for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * weight[i];
      } else {
        for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv;
      }
    }
  });
}

void CpuBackend::gated_add(float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch,
                           int64_t tokens, int64_t d) {
  pool_.parallel_for(0, batch * tokens, row_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* g = gate + (r / tokens) * mod_stride;
      float* xr = x + r * d;
      const float* yr = y + r * d;
      for (int64_t i = 0; i < d; ++i) xr[i] += g[i] * yr[i];
    }
  });
}

}  // namespace sana::cpu
