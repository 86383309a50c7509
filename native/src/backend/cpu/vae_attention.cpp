// DC-AE's multi-scale ReLU attention core (SanaMultiscaleLinearAttention's
// apply_linear_attention / apply_quadratic_attention), one task per (batch item, group).
// The linear form folds the keys into a (head_dim + 1) x head_dim summary first, so its cost
// is linear in the tokens; the quadratic form is only used on tiny grids (tokens <=
// head_dim), where it is what the reference computes.
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/arena.h"
#include "sana/error.h"

namespace sana::cpu {

namespace {

constexpr float kEps = 1e-15f;  // SanaMultiscaleLinearAttention(eps=1e-15)

inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

// The key summary of the linear form: kv[j * d + i] += sum_n relu(k_n)[j] v_n[i] and
// ksum[j] += sum_n relu(k_n)[j] (the reference's padded row of ones in V). k, v: token rows
// `stride` apart.
void accumulate_summary(const float* k, const float* v, int64_t stride, int64_t tokens, int64_t d, float* kv,
                        float* ksum) {
  for (int64_t n = 0; n < tokens; ++n) {
    const float* kn = k + n * stride;
    const float* vn = v + n * stride;
    for (int64_t j = 0; j < d; ++j) {
      const float kj = relu(kn[j]);
      if (kj == 0.0f) continue;
      ksum[j] += kj;
      float* row = kv + j * d;
      for (int64_t i = 0; i < d; ++i) row[i] += kj * vn[i];
    }
  }
}

// out_n = kv^T relu(q_n) / (ksum . relu(q_n) + eps); out rows out_stride apart.
void apply_summary(const float* q, int64_t stride, int64_t tokens, int64_t d, const float* kv, const float* ksum,
                   float* out, int64_t out_stride) {
  thread_local AlignedFloats q_buf;
  q_buf.ensure(static_cast<size_t>(d));
  float* qr = q_buf.data();
  for (int64_t n = 0; n < tokens; ++n) {
    const float* qn = q + n * stride;
    float* on = out + n * out_stride;
    for (int64_t j = 0; j < d; ++j) qr[j] = relu(qn[j]);
    float den = 0.0f;
    std::fill(on, on + d, 0.0f);
    for (int64_t j = 0; j < d; ++j) {
      if (qr[j] == 0.0f) continue;
      den += qr[j] * ksum[j];
      const float* row = kv + j * d;
      for (int64_t i = 0; i < d; ++i) on[i] += qr[j] * row[i];
    }
    const float denom = den + kEps;
    for (int64_t i = 0; i < d; ++i) on[i] /= denom;
  }
}

void linear_group(const float* q, const float* k, const float* v, int64_t stride, int64_t tokens, int64_t d,
                  float* out, int64_t out_stride) {
  thread_local AlignedFloats summary_buf;
  summary_buf.ensure(static_cast<size_t>(d * d + d));
  float* kv = summary_buf.data();
  std::fill(kv, kv + d * d + d, 0.0f);
  accumulate_summary(k, v, stride, tokens, d, kv, kv + d * d);
  apply_summary(q, stride, tokens, d, kv, kv + d * d, out, out_stride);
}

void quadratic_group(const float* q, const float* k, const float* v, int64_t stride, int64_t tokens, int64_t d,
                     float* out, int64_t out_stride) {
  thread_local AlignedFloats scores_buf;
  scores_buf.ensure(static_cast<size_t>(tokens));
  float* s = scores_buf.data();  // one query's column of K^T Q
  for (int64_t i = 0; i < tokens; ++i) {
    const float* qi = q + i * stride;
    float total = 0.0f;
    for (int64_t j = 0; j < tokens; ++j) {
      const float* kj = k + j * stride;
      float dot = 0.0f;
      for (int64_t c = 0; c < d; ++c) dot += relu(kj[c]) * relu(qi[c]);
      s[j] = dot;
      total += dot;
    }
    const float denom = total + kEps;
    float* oi = out + i * out_stride;
    std::fill(oi, oi + d, 0.0f);
    for (int64_t j = 0; j < tokens; ++j) {
      const float w = s[j] / denom;
      const float* vj = v + j * stride;
      for (int64_t c = 0; c < d; ++c) oi[c] += vj[c] * w;
    }
  }
}

}  // namespace

void CpuBackend::relu_group_attention(const float* qkv, int64_t qkv_stride, int64_t batch, int64_t tokens,
                                      int64_t groups, int64_t head_dim, bool quadratic, float* out,
                                      int64_t out_stride) {
  check(qkv_stride >= groups * 3 * head_dim && out_stride >= groups * head_dim,
        "relu_group_attention: strides too small for " + std::to_string(groups) + " groups of " +
            std::to_string(head_dim));
  const int64_t d = head_dim;
  pool_.parallel_for(0, batch * groups, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task / groups, g = task % groups;
      const float* q = qkv + b * tokens * qkv_stride + g * 3 * d;
      float* o = out + b * tokens * out_stride + g * d;
      if (quadratic)
        quadratic_group(q, q + d, q + 2 * d, qkv_stride, tokens, d, o, out_stride);
      else
        linear_group(q, q + d, q + 2 * d, qkv_stride, tokens, d, o, out_stride);
    }
  });
}

void CpuBackend::relu_attention_stats(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                                      int64_t head_dim, float* stats) {
  const int64_t d = head_dim, per_group = d * d + d;
  pool_.parallel_for(0, groups, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g) {
      const float* q = qkv + g * 3 * d;
      float* st = stats + g * per_group;
      accumulate_summary(q + d, q + 2 * d, qkv_stride, tokens, d, st, st + d * d);
    }
  });
}

void CpuBackend::relu_attention_apply(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                                      int64_t head_dim, const float* stats, float* out, int64_t out_stride) {
  const int64_t d = head_dim, per_group = d * d + d;
  pool_.parallel_for(0, groups, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g) {
      const float* st = stats + g * per_group;
      apply_summary(qkv + g * 3 * d, qkv_stride, tokens, d, st, st + d * d, out + g * d, out_stride);
    }
  });
}

}  // namespace sana::cpu
