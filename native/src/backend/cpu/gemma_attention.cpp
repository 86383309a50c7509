// Gemma-2's causal self-attention (transformers' eager_attention_forward with the masks of
// create_causal_mask / create_sliding_window_causal_mask), per (batch, head, query block).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/simd.h"

namespace sana::cpu {

namespace {

using simd::kWidth;
using simd::Vec;

// Query rows per task: the score block (rows x keys) stays in L2.
constexpr int64_t kQueryBlock = 64;

// tanh to a few ulp, as Cephes' tanhf: an odd polynomial below 0.625, 1 - 2 / (e^2|y| + 1)
// above (no cancellation there). std::tanh per score made the soft cap most of the
// attention time.
inline Vec tanh_v(Vec y) {
  const Vec a = simd::max(y, -y);
  const Vec z = y * y;
  Vec p = -5.70498872745e-3f * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  p = p * z * y + y;
  Vec t = 1.0f - 2.0f / (simd::exp(2.0f * a) + 1.0f);
  t = y < 0.0f ? -t : t;
  return a < 0.625f ? p : t;
}

// One query's scores over its visible key range s[lo, hi) -> softmax probabilities (0
// elsewhere in [0, nk)); valid[jj] == 0 masks key jj. Returns false when no key is visible.
bool softmax_row(float* s, int64_t nk, int64_t lo, int64_t hi, const float* valid, float softcap) {
  std::fill(s, s + lo, 0.0f);
  std::fill(s + hi, s + nk, 0.0f);
  float* v = s + lo;
  const float* ok = valid + lo;
  const int64_t n = hi - lo;
  const Vec neg_inf = simd::broadcast(-INFINITY);
  Vec mx = neg_inf;
  int64_t j = 0;
  for (; j + kWidth <= n; j += kWidth) {
    Vec x = simd::load(v + j);
    if (softcap > 0.0f) x = tanh_v(x / softcap) * softcap;  // torch divides, then multiplies
    x = simd::load(ok + j) != 0.0f ? x : neg_inf;
    simd::store(v + j, x);
    mx = simd::max(mx, x);
  }
  float m = simd::hmax(mx);
  for (; j < n; ++j) {
    float x = v[j];
    if (softcap > 0.0f) x = std::tanh(x / softcap) * softcap;
    x = ok[j] != 0.0f ? x : -INFINITY;
    v[j] = x;
    m = std::max(m, x);
  }
  if (m == -INFINITY) {
    std::fill(v, v + n, 0.0f);
    return false;
  }
  // exp(-inf - m) is exactly 0 in simd::exp (underflow), so masked keys drop out.
  Vec sum_v{};
  j = 0;
  for (; j + kWidth <= n; j += kWidth) {
    const Vec e = simd::exp(simd::load(v + j) - m);
    simd::store(v + j, e);
    sum_v += e;
  }
  float sum = simd::hsum(sum_v);
  for (; j < n; ++j) {
    const float e = v[j] == -INFINITY ? 0.0f : std::exp(v[j] - m);
    v[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (j = 0; j < n; ++j) v[j] *= inv;
  return true;
}

}  // namespace

void CpuBackend::causal_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                                  int64_t kv_stride, const float* key_valid, const CausalAttentionShape& sh,
                                  float* out, int64_t out_stride) {
  const int64_t T = sh.tokens, D = sh.head_dim, group = sh.heads / sh.kv_heads;
  const int64_t blocks = (T + kQueryBlock - 1) / kQueryBlock;
  pool_.parallel_for(0, sh.batch * sh.heads * blocks, 1, [&](int64_t lo, int64_t hi) {
    thread_local AlignedFloats scores_buf;
    scores_buf.ensure(static_cast<size_t>(kQueryBlock * T));
    float* scores = scores_buf.data();
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t blk = task % blocks, h = (task / blocks) % sh.heads, b = task / (blocks * sh.heads);
      const int64_t r0 = blk * kQueryBlock, rows = std::min(kQueryBlock, T - r0);
      // Keys any query of the block can see: causal bound above, window bound below.
      const int64_t k_end = r0 + rows;
      const int64_t k_begin = sh.window > 0 ? std::max<int64_t>(0, r0 - sh.window + 1) : 0;
      const int64_t nk = k_end - k_begin;
      const int64_t kv_col = (h / group) * D;
      const float* qb = q + (b * T + r0) * q_stride + h * D;
      const float* kb = k + (b * T + k_begin) * kv_stride + kv_col;
      const float* vb = v + (b * T + k_begin) * kv_stride + kv_col;
      const float* valid = key_valid + b * T;
      float* ob = out + (b * T + r0) * out_stride + h * D;
      // Nested in a pool task, this GEMM runs on this thread alone.
      sgemm_ex(Trans::No, Trans::Yes, rows, nk, D, sh.scale, qb, q_stride, kb, kv_stride, 0.0f, scores, nk, nullptr);
      bool blind[kQueryBlock] = {};
      bool any_blind = false;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r0 + r;
        // Visible: k_begin + jj <= i, and i - (k_begin + jj) < window.
        const int64_t lo = sh.window > 0 ? std::max<int64_t>(0, i - sh.window + 1 - k_begin) : 0;
        const int64_t hi = i + 1 - k_begin;
        if (!softmax_row(scores + r * nk, nk, lo, hi, valid + k_begin, sh.softcap)) {
          // Every score is finfo.min after the mask: softmax is uniform over all T keys
          // (written after the block's P V product below).
          blind[r] = any_blind = true;
        }
      }
      sgemm_ex(Trans::No, Trans::No, rows, D, nk, 1.0f, scores, nk, vb, kv_stride, 0.0f, ob, out_stride, nullptr);
      if (!any_blind) continue;
      for (int64_t r = 0; r < rows; ++r) {
        if (!blind[r]) continue;
        float* o = ob + r * out_stride;
        std::fill(o, o + D, 0.0f);
        const float* v_all = v + b * T * kv_stride + kv_col;
        for (int64_t j = 0; j < T; ++j)
          for (int64_t d = 0; d < D; ++d) o[d] += v_all[j * kv_stride + d];
        const float inv_t = 1.0f / static_cast<float>(T);
        for (int64_t d = 0; d < D; ++d) o[d] *= inv_t;
      }
    }
  });
}

}  // namespace sana::cpu
