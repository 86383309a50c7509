// The two attentions of a Sana block.
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/simd.h"

namespace sana::cpu {

namespace {

using simd::kWidth;
using simd::Vec;

// Query rows per softmax-attention task: the score block (rows x keys) stays in L2.
constexpr int64_t kQueryBlock = 64;

// out[i] += s * x[i] for n floats.
inline void axpy(float* out, float s, const float* x, int64_t n) {
  int64_t i = 0;
  const Vec sv = simd::broadcast(s);
  for (; i + kWidth <= n; i += kWidth) simd::store(out + i, simd::load(out + i) + sv * simd::load(x + i));
  for (; i < n; ++i) out[i] += s * x[i];
}

// Numerically safe softmax of n floats in place (max subtracted, vector exp).
void softmax_row(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  const Vec mv = simd::broadcast(mx);
  Vec sumv{};
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) {
    const Vec e = simd::exp(simd::load(x + i) - mv);
    simd::store(x + i, e);
    sumv += e;
  }
  float sum = simd::hsum(sumv);
  if (i < n) {
    alignas(64) float tail[kWidth];
    for (int j = 0; j < kWidth; ++j) tail[j] = i + j < n ? x[i + j] - mx : -100.0f;
    const Vec e = simd::exp(simd::load(tail));
    for (int64_t j = 0; i + j < n; ++j) {
      x[i + j] = e[j];
      sum += e[j];
    }
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

}  // namespace

void CpuBackend::linear_attention(const float* q, const float* k, const float* v, int64_t stride, int64_t batch,
                                  int64_t tokens, int64_t heads, int64_t head_dim, const uint8_t* identity, float* out,
                                  int64_t out_stride) {
  const int64_t d = head_dim;
  pool_.parallel_for(0, batch * heads, 1, [&](int64_t lo, int64_t hi) {
    // kv[j][i] = sum_n relu(k_n)[j] v_n[i]; row d holds sum_n relu(k_n) (diffusers' padded
    // row of ones in V), so one pass over the keys gives numerator and denominator.
    thread_local AlignedFloats kv_buf, krow_buf;
    kv_buf.ensure(static_cast<size_t>(d * d + d));
    krow_buf.ensure(static_cast<size_t>(d));
    float* kv = kv_buf.data();
    float* ksum = kv + d * d;
    float* kr = krow_buf.data();
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task / heads, h = task % heads;
      const int64_t row0 = b * tokens, col = h * d;
      if (identity && identity[b]) {
        for (int64_t n = 0; n < tokens; ++n)
          std::memcpy(out + (row0 + n) * out_stride + col, v + (row0 + n) * stride + col, d * sizeof(float));
        continue;
      }
      std::fill(kv, kv + d * d + d, 0.0f);
      for (int64_t n = 0; n < tokens; ++n) {
        const float* kn = k + (row0 + n) * stride + col;
        const float* vn = v + (row0 + n) * stride + col;
        for (int64_t j = 0; j < d; ++j) {
          kr[j] = kn[j] > 0.0f ? kn[j] : 0.0f;
          ksum[j] += kr[j];
        }
        for (int64_t j = 0; j < d; ++j)
          if (kr[j] != 0.0f) axpy(kv + j * d, kr[j], vn, d);
      }
      for (int64_t n = 0; n < tokens; ++n) {
        const float* qn = q + (row0 + n) * stride + col;
        float* on = out + (row0 + n) * out_stride + col;
        std::fill(on, on + d, 0.0f);
        float den = 0.0f;
        for (int64_t j = 0; j < d; ++j) {
          const float qj = qn[j] > 0.0f ? qn[j] : 0.0f;
          if (qj == 0.0f) continue;
          den += qj * ksum[j];
          axpy(on, qj, kv + j * d, d);
        }
        const float inv = 1.0f / (den + 1e-15f);
        for (int64_t i = 0; i < d; ++i) on[i] *= inv;
      }
    }
  });
}

void CpuBackend::softmax_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                                   int64_t kv_stride, const float* key_bias, const int64_t* kv_index, int64_t batch,
                                   int64_t nq, int64_t nk, int64_t heads, int64_t head_dim, float scale, float* out,
                                   int64_t out_stride) {
  const int64_t blocks = (nq + kQueryBlock - 1) / kQueryBlock;
  pool_.parallel_for(0, batch * heads * blocks, 1, [&](int64_t lo, int64_t hi) {
    thread_local AlignedFloats scores_buf;
    scores_buf.ensure(static_cast<size_t>(kQueryBlock * nk));
    float* scores = scores_buf.data();
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t blk = task % blocks, h = (task / blocks) % heads, b = task / (blocks * heads);
      const int64_t bt = kv_index ? kv_index[b] : b;
      const int64_t r0 = blk * kQueryBlock, rows = std::min(kQueryBlock, nq - r0);
      const float* qb = q + (b * nq + r0) * q_stride + h * head_dim;
      const float* kb = k + bt * nk * kv_stride + h * head_dim;
      const float* vb = v + bt * nk * kv_stride + h * head_dim;
      // Nested in a pool task, these GEMMs run on this thread alone.
      sgemm_ex(Trans::No, Trans::Yes, rows, nk, head_dim, scale, qb, q_stride, kb, kv_stride, 0.0f, scores, nk,
               nullptr);
      for (int64_t r = 0; r < rows; ++r) {
        float* s = scores + r * nk;
        if (key_bias) {
          const float* bias = key_bias + bt * nk;
          for (int64_t j = 0; j < nk; ++j) s[j] += bias[j];
        }
        softmax_row(s, nk);
      }
      sgemm_ex(Trans::No, Trans::No, rows, head_dim, nk, 1.0f, scores, nk, vb, kv_stride, 0.0f,
               out + (b * nq + r0) * out_stride + h * head_dim, out_stride, nullptr);
    }
  });
}

}  // namespace sana::cpu
