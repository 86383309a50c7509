// Gemma-2's causal self-attention (transformers' eager_attention_forward with the masks of
// create_causal_mask / create_sliding_window_causal_mask), per (batch, head, query block).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm.h"

namespace sana::cpu {

namespace {

// Query rows per task: the score block (rows x keys) stays in L2.
constexpr int64_t kQueryBlock = 64;

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
        float* s = scores + r * nk;
        float mx = -INFINITY;
        for (int64_t jj = 0; jj < nk; ++jj) {
          const int64_t j = k_begin + jj;
          const bool visible = j <= i && (sh.window <= 0 || i - j < sh.window) && valid[j] != 0.0f;
          if (!visible) {
            s[jj] = -INFINITY;
            continue;
          }
          if (sh.softcap > 0.0f) s[jj] = std::tanh(s[jj] / sh.softcap) * sh.softcap;
          mx = std::max(mx, s[jj]);
        }
        if (mx == -INFINITY) {
          // Every score is finfo.min after the mask: softmax is uniform over all T keys
          // (written after the block's P V product below).
          std::fill(s, s + nk, 0.0f);
          blind[r] = any_blind = true;
          continue;
        }
        float sum = 0.0f;
        for (int64_t jj = 0; jj < nk; ++jj) {
          const float e = s[jj] == -INFINITY ? 0.0f : std::exp(s[jj] - mx);
          s[jj] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;
        for (int64_t jj = 0; jj < nk; ++jj) s[jj] *= inv;
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
