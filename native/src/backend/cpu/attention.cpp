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

// Query rows per softmax-attention task: big enough that the two GEMMs per task run near
// full speed (64 rows left them at a third of it), small enough that the score block
// (rows x keys, 300 keys = 300 KiB) stays in L2.
constexpr int64_t kQueryBlock = 256;

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
  const int64_t d = head_dim, n = tokens, e = d + 1;
  pool_.parallel_for(0, batch * heads, 1, [&](int64_t lo, int64_t hi) {
    // As diffusers: V padded with a column of ones, so one product relu(K)^T [V | 1] gives
    // the numerators' K^T V and the normaliser's key sums, and relu(Q) times that gives
    // [numerator | denominator] per query. Two small GEMMs per head on this thread.
    thread_local AlignedFloats kr_buf, qr_buf, vpad_buf, kv_buf, res_buf;
    kr_buf.ensure(static_cast<size_t>(n * d));
    qr_buf.ensure(static_cast<size_t>(n * d));
    vpad_buf.ensure(static_cast<size_t>(n * e));
    kv_buf.ensure(static_cast<size_t>(d * e));
    res_buf.ensure(static_cast<size_t>(n * e));
    float *kr = kr_buf.data(), *qr = qr_buf.data(), *vpad = vpad_buf.data(), *kv = kv_buf.data();
    float* res = res_buf.data();
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task / heads, h = task % heads;
      const int64_t row0 = b * n, col = h * d;
      if (identity && identity[b]) {
        for (int64_t t = 0; t < n; ++t)
          std::memcpy(out + (row0 + t) * out_stride + col, v + (row0 + t) * stride + col, d * sizeof(float));
        continue;
      }
      for (int64_t t = 0; t < n; ++t) {
        const float* kt = k + (row0 + t) * stride + col;
        const float* qt = q + (row0 + t) * stride + col;
        const float* vt = v + (row0 + t) * stride + col;
        for (int64_t j = 0; j < d; ++j) {
          kr[t * d + j] = kt[j] > 0.0f ? kt[j] : 0.0f;
          qr[t * d + j] = qt[j] > 0.0f ? qt[j] : 0.0f;
        }
        std::memcpy(vpad + t * e, vt, d * sizeof(float));
        vpad[t * e + d] = 1.0f;
      }
      sgemm_ex(Trans::Yes, Trans::No, d, e, n, 1.0f, kr, d, vpad, e, 0.0f, kv, e, nullptr);
      sgemm_ex(Trans::No, Trans::No, n, e, d, 1.0f, qr, d, kv, e, 0.0f, res, e, nullptr);
      for (int64_t t = 0; t < n; ++t) {
        const float* rt = res + t * e;
        const float den = rt[d] + 1e-15f;
        float* ot = out + (row0 + t) * out_stride + col;
        for (int64_t i = 0; i < d; ++i) ot[i] = rt[i] / den;
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
