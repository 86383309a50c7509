// The attentions of Sana and Gemma-2 and Gemma-2's elementwise ops, computing what
// cpu/attention.cpp, cpu/gemma_attention.cpp and cpu/gemma_elementwise.cpp compute.
//
// Linear attention: one block per (batch item, head) reduces relu(K)^T [V | 1] over all
// tokens into shared memory, then applies it to every query of that head, so no workspace
// is needed. Softmax attentions (Sana's cross-attention, Gemma-2's causal attention): one
// block per (32 queries, head, batch item) streams the keys through shared memory in tiles
// of 32 with an online softmax, so each key row is read once per 32 queries (not once per
// query) and no score row of nk floats has to fit anywhere.
#include <cmath>
#include <string>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"
#include "sana/error.h"

namespace sana::cuda::kernels {

namespace {

// ---- linear attention -------------------------------------------------------------------

constexpr int kLinearThreads = 256;
constexpr int kLinearMaxDim = 64;
// Staging for a chunk of relu(K) and V rows (kChunkFloats each), reused afterwards for the
// per-group partial summaries (at most kLinearThreads * 16 floats, plus key sums) and for
// the relu(Q) rows of the apply phase.
constexpr int kChunkFloats = 2048;
constexpr int kLinearBuffer = 5120;

struct LinearArgs {
  const float* q;
  const float* k;
  const float* v;
  int64_t stride;
  int64_t tokens, heads, head_dim;
  const uint8_t* identity;
  float* out;
  int64_t out_stride;
};

// The dims padded to whole float4s; the padding columns are staged as zeros so every tile
// reads aligned float4s and contributes nothing from the padding.
struct LinearLayout {
  int d, dp, tiles_1d;
  __device__ explicit LinearLayout(int head_dim) : d(head_dim), dp((head_dim + 3) & ~3), tiles_1d(dp / 4) {}
};

// The CPU's `x > 0 ? x : 0` (NaN and -0 map to +0, unlike fmaxf's choice for -0).
__device__ __forceinline__ float relu(float x) { return x > 0.0f ? x : 0.0f; }

// PAG's perturbed branch: the attention is the identity on V.
__device__ void copy_values(const LinearArgs& a, int64_t row0, int64_t col) {
  const int64_t d = a.head_dim, n = a.tokens * d;
  for (int64_t idx = threadIdx.x; idx < n; idx += blockDim.x) {
    const int64_t t = idx / d, c = idx - t * d;
    a.out[(row0 + t) * a.out_stride + col + c] = a.v[(row0 + t) * a.stride + col + c];
  }
}

// Tokens [t0, t0 + count) of relu(K) and V into rows of dp floats, padding columns zero.
__device__ void stage_keys(const LinearArgs& a, const LinearLayout& L, int64_t row0, int64_t col, int64_t t0,
                           int count, float* ks, float* vs) {
  for (int idx = threadIdx.x; idx < count * L.dp; idx += blockDim.x) {
    const int t = idx / L.dp, c = idx - t * L.dp;
    float kv = 0.0f, vv = 0.0f;
    if (c < L.d) {
      const int64_t off = (row0 + t0 + t) * a.stride + col + c;
      kv = relu(a.k[off]);
      vv = a.v[off];
    }
    ks[idx] = kv;
    vs[idx] = vv;
  }
}

// Writes S[i][j] = sum_t relu(k_t[i]) v_t[j] (dp x dp, row-major) and ksum[i] = sum_t
// relu(k_t[i]): the diffusers product relu(K)^T [V | 1], its ones column kept apart. Each
// thread owns a 4x4 tile of S for one group of tokens; the groups are summed in a fixed
// order afterwards, so the result does not depend on scheduling.
__device__ void key_summary(const LinearArgs& a, const LinearLayout& L, int64_t row0, int64_t col, float* buf,
                            float* S, float* ksum) {
  const int tiles = L.tiles_1d * L.tiles_1d;
  const int groups = kLinearThreads / tiles;
  const int chunk = kChunkFloats / L.dp;
  const int tile = static_cast<int>(threadIdx.x) % tiles, g = static_cast<int>(threadIdx.x) / tiles;
  const int ti = tile / L.tiles_1d, tj = tile % L.tiles_1d;
  float* ks = buf;
  float* vs = buf + kChunkFloats;
  float acc[4][4] = {}, kacc[4] = {};
  for (int64_t t0 = 0; t0 < a.tokens; t0 += chunk) {
    const int count = static_cast<int>(min(static_cast<int64_t>(chunk), a.tokens - t0));
    __syncthreads();  // the previous chunk is still being read
    stage_keys(a, L, row0, col, t0, count, ks, vs);
    __syncthreads();
    if (g >= groups) continue;
    for (int t = g; t < count; t += groups) {
      const float4 k4 = reinterpret_cast<const float4*>(ks + t * L.dp)[ti];
      const float4 v4 = reinterpret_cast<const float4*>(vs + t * L.dp)[tj];
      const float kr[4] = {k4.x, k4.y, k4.z, k4.w}, vr[4] = {v4.x, v4.y, v4.z, v4.w};
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        kacc[r] += kr[r];
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] = fmaf(kr[r], vr[c], acc[r][c]);
      }
    }
  }
  __syncthreads();  // the staging area becomes the partial sums
  float* part = buf;                       // groups * dp * dp
  float* kpart = buf + L.dp * L.dp * groups;  // groups * dp
  if (g < groups) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
#pragma unroll
      for (int c = 0; c < 4; ++c) part[(g * L.dp + 4 * ti + r) * L.dp + 4 * tj + c] = acc[r][c];
      if (tj == 0) kpart[g * L.dp + 4 * ti + r] = kacc[r];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < L.dp * L.dp; idx += blockDim.x) {
    float s = 0.0f;
    for (int gg = 0; gg < groups; ++gg) s += part[gg * L.dp * L.dp + idx];
    S[idx] = s;
  }
  for (int idx = threadIdx.x; idx < L.dp; idx += blockDim.x) {
    float s = 0.0f;
    for (int gg = 0; gg < groups; ++gg) s += kpart[gg * L.dp + idx];
    ksum[idx] = s;
  }
  __syncthreads();
}

// out_t = (relu(q_t) S) / (relu(q_t) . ksum + 1e-15), as cpu/attention.cpp's `rt[i] / den`
// with den = rt[d] + 1e-15f. Each thread computes 4 tokens x 4 dims.
__device__ void apply_summary(const LinearArgs& a, const LinearLayout& L, int64_t row0, int64_t col, float* qs,
                              const float* S, const float* ksum) {
  const int ld = L.dp + 4;  // keeps float4 rows aligned and the 4 rows of a tile in other banks
  const int quads = min(kLinearThreads / L.tiles_1d, (kLinearBuffer / 4) / ld);
  const int per_pass = 4 * quads;
  const int tq = static_cast<int>(threadIdx.x) / L.tiles_1d, tj = static_cast<int>(threadIdx.x) % L.tiles_1d;
  const float4* S4 = reinterpret_cast<const float4*>(S);
  const float4* k4 = reinterpret_cast<const float4*>(ksum);
  for (int64_t t0 = 0; t0 < a.tokens; t0 += per_pass) {
    const int count = static_cast<int>(min(static_cast<int64_t>(per_pass), a.tokens - t0));
    __syncthreads();  // the previous pass is still being read
    for (int idx = threadIdx.x; idx < per_pass * L.dp; idx += blockDim.x) {
      const int t = idx / L.dp, c = idx - t * L.dp;
      qs[t * ld + c] = t < count && c < L.d ? relu(a.q[(row0 + t0 + t) * a.stride + col + c]) : 0.0f;
    }
    __syncthreads();
    if (tq >= quads || 4 * tq >= count) continue;
    float num[4][4] = {}, den[4] = {};
    for (int i = 0; i < L.dp; i += 4) {
      const float4 kk = k4[i / 4];
      const float ksr[4] = {kk.x, kk.y, kk.z, kk.w};
      float4 s4[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) s4[r] = S4[(i + r) * L.tiles_1d + tj];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float4 q4 = *reinterpret_cast<const float4*>(qs + (4 * tq + u) * ld + i);
        const float qr[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          den[u] = fmaf(qr[r], ksr[r], den[u]);
          num[u][0] = fmaf(qr[r], s4[r].x, num[u][0]);
          num[u][1] = fmaf(qr[r], s4[r].y, num[u][1]);
          num[u][2] = fmaf(qr[r], s4[r].z, num[u][2]);
          num[u][3] = fmaf(qr[r], s4[r].w, num[u][3]);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int t = 4 * tq + u;
      if (t >= count) break;
      const float dn = den[u] + 1e-15f;
      float* o = a.out + (row0 + t0 + t) * a.out_stride + col;
#pragma unroll
      for (int c = 0; c < 4; ++c)
        if (4 * tj + c < L.d) o[4 * tj + c] = num[u][c] / dn;
    }
  }
}

__global__ void __launch_bounds__(kLinearThreads) linear_attention_kernel(LinearArgs a) {
  __shared__ __align__(16) float buf[kLinearBuffer];
  __shared__ __align__(16) float S[kLinearMaxDim * kLinearMaxDim];
  __shared__ __align__(16) float ksum[kLinearMaxDim];
  const int64_t b = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
  const int64_t row0 = b * a.tokens, col = h * a.head_dim;
  if (a.identity != nullptr && a.identity[b] != 0) {
    copy_values(a, row0, col);
    return;
  }
  const LinearLayout L(static_cast<int>(a.head_dim));
  key_summary(a, L, row0, col, buf, S, ksum);
  apply_summary(a, L, row0, col, buf, S, ksum);
}

// ---- softmax attention (cross-attention and Gemma-2 causal attention) ------------------

constexpr int kAttnThreads = 256;
constexpr int kWarps = kAttnThreads / 32;
constexpr int kRowsPerWarp = 4;
constexpr int kQueryTile = kWarps * kRowsPerWarp;  // 32
constexpr int kKeyTile = 32;                         // one key per lane
constexpr int kMaxHeadDim = 256;
constexpr size_t kDefaultSharedBytes = 48 * 1024;

// Both ops in one argument block; the causal fields are unused by cross-attention and the
// bias/index fields by causal attention.
struct AttnArgs {
  const float* q;
  int64_t q_stride;
  const float* k;
  const float* v;
  int64_t kv_stride;
  float* out;
  int64_t out_stride;
  int64_t nq, nk, heads, head_dim;
  float scale;
  const float* key_bias = nullptr;    // cross: (Bt, nk) or null
  const int64_t* kv_index = nullptr;  // cross: (batch) or null
  const float* key_valid = nullptr;   // causal: (batch, tokens)
  float softcap = 0.0f;
  int64_t window = 0;
  int64_t group = 1;  // causal: query heads per kv head
};

// Where one block's keys live and which of them any of its queries can see.
struct KeyRange {
  const float* k;  // row 0 of this block's keys, at its head's column
  const float* v;
  const float* bias;   // cross: per-key additive bias or null
  const float* valid;  // causal: per-key 0/1
  int64_t begin, end;
};

template <bool kCausal>
__device__ KeyRange key_range(const AttnArgs& a, int64_t b, int64_t h, int64_t q0) {
  KeyRange r{};
  if constexpr (kCausal) {
    // Query h reads kv head h / group (GQA); keys run from the window's start for the
    // block's first query to its last query (causal).
    const int64_t off = b * a.nk * a.kv_stride + (h / a.group) * a.head_dim;
    r.k = a.k + off;
    r.v = a.v + off;
    r.valid = a.key_valid + b * a.nk;
    r.end = min(q0 + kQueryTile, a.nk);
    r.begin = a.window > 0 ? max(static_cast<int64_t>(0), q0 - a.window + 1) : 0;
  } else {
    const int64_t bt = a.kv_index != nullptr ? a.kv_index[b] : b;
    const int64_t off = bt * a.nk * a.kv_stride + h * a.head_dim;
    r.k = a.k + off;
    r.v = a.v + off;
    r.bias = a.key_bias != nullptr ? a.key_bias + bt * a.nk : nullptr;
    r.begin = 0;
    r.end = a.nk;
  }
  return r;
}

// qT[d * 32 + r] = q[query q0 + r][d]: transposed so a warp reads its 4 queries' values of
// one dim as one broadcast float4. Queries past the end are zeros (their rows are never
// written, but keep every score finite).
__device__ void stage_queries(const AttnArgs& a, int64_t b, int64_t h, int64_t q0, float* qT) {
  const int D = static_cast<int>(a.head_dim);
  const float* qb = a.q + b * a.nq * a.q_stride + h * a.head_dim;
  for (int idx = threadIdx.x; idx < D * kQueryTile; idx += blockDim.x) {
    const int d = idx / kQueryTile, r = idx - d * kQueryTile;
    const int64_t i = q0 + r;
    qT[idx] = i < a.nq ? qb[i * a.q_stride + d] : 0.0f;
  }
}

// Rows [j0, j0 + count) of src (K or V) into rows `ld` floats apart; ld is odd so lanes
// reading one dim of 32 different rows hit 32 different banks.
__device__ void stage_rows(const float* src, int64_t kv_stride, int64_t j0, int count, int D, int ld, float* dst) {
  for (int idx = threadIdx.x; idx < count * D; idx += blockDim.x) {
    const int r = idx / D, d = idx - r * D;
    dst[r * ld + d] = src[(j0 + r) * kv_stride + d];
  }
}

// This lane's key against the warp's 4 queries, scaled, then as the CPU: cross-attention
// adds the key bias (cpu/attention.cpp: scores = scale q.k, then += bias); causal applies
// the soft cap to the scaled score and then the mask (cpu/gemma_attention.cpp softmax_row).
// Masked and missing keys are -inf.
template <bool kCausal>
__device__ void tile_scores(const AttnArgs& a, const KeyRange& kr, const float* qT, const float* ks, int ld,
                            int64_t q0, int64_t j0, int count, float (&s)[kRowsPerWarp]) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int u = 0; u < kRowsPerWarp; ++u) s[u] = -INFINITY;
  if (lane >= count) return;
  const int D = static_cast<int>(a.head_dim);
  const float* krow = ks + lane * ld;
  const float* qw = qT + kRowsPerWarp * warp;
  float dot[kRowsPerWarp] = {};
#pragma unroll 4
  for (int d = 0; d < D; ++d) {
    const float4 q4 = *reinterpret_cast<const float4*>(qw + d * kQueryTile);
    const float kd = krow[d];
    dot[0] = fmaf(q4.x, kd, dot[0]);
    dot[1] = fmaf(q4.y, kd, dot[1]);
    dot[2] = fmaf(q4.z, kd, dot[2]);
    dot[3] = fmaf(q4.w, kd, dot[3]);
  }
  const int64_t j = j0 + lane;
#pragma unroll
  for (int u = 0; u < kRowsPerWarp; ++u) {
    float x = a.scale * dot[u];
    if constexpr (kCausal) {
      if (a.softcap > 0.0f) x = tanhf(x / a.softcap) * a.softcap;  // torch divides, then multiplies
      const int64_t i = q0 + kRowsPerWarp * warp + u;
      const bool visible = j <= i && (a.window <= 0 || i - j < a.window) && kr.valid[j] != 0.0f;
      s[u] = visible ? x : -INFINITY;
    } else {
      if (kr.bias != nullptr) x += kr.bias[j];
      s[u] = x;
    }
  }
}

// Online softmax state of one query row, identical in every lane of its warp.
struct RowState {
  float max = -INFINITY;
  float sum = 0.0f;
};

// Folds this tile's scores into the row: returns exp(s - new max) for this lane's key and
// sets `rescale` to the factor the row's accumulators must be multiplied by. While the row
// has seen no visible key everything stays 0 (exp(-inf - -inf) would be NaN).
__device__ float online_update(RowState& row, float s, float& rescale) {
  const float m = fmaxf(row.max, warp_max(s));
  rescale = 1.0f;
  if (m == -INFINITY) return 0.0f;
  const float p = expf(s - m);  // a masked key: exp(-inf) = 0
  rescale = expf(row.max - m);
  row.sum = row.sum * rescale + warp_sum(p);
  row.max = m;
  return p;
}

// acc[u][m] += sum over the tile's keys of p(row u, key) * V[key][lane + 32 m]. `probs`
// holds the warp's p as one float4 (its 4 rows) per key, written by the lane that scored
// the key: one broadcast load per key instead of 4 shuffles, which bound small head dims.
template <int kMD>
__device__ void accumulate_values(const float* vs, int ld, int count, const int (&cols)[kMD], const float4* probs,
                                  float (&acc)[kRowsPerWarp][kMD]) {
  for (int j = 0; j < count; ++j) {
    const float4 p4 = probs[j];
    const float pj[kRowsPerWarp] = {p4.x, p4.y, p4.z, p4.w};
    const float* vrow = vs + j * ld;
#pragma unroll
    for (int m = 0; m < kMD; ++m) {
      const float vv = vrow[cols[m]];
#pragma unroll
      for (int u = 0; u < kRowsPerWarp; ++u) acc[u][m] = fmaf(pj[u], vv, acc[u][m]);
    }
  }
}

// A query that sees no key: transformers' eager attention adds finfo.min to every score,
// so the softmax is uniform over all `tokens` keys of the row (cpu/gemma_attention.cpp).
template <int kMD>
__device__ void uniform_average(const AttnArgs& a, const KeyRange& kr, float* o) {
  const int lane = threadIdx.x & 31;
  const float inv_t = 1.0f / static_cast<float>(a.nk);
#pragma unroll
  for (int m = 0; m < kMD; ++m) {
    const int64_t d = lane + 32 * m;
    if (d >= a.head_dim) break;
    float sum = 0.0f;
    for (int64_t j = 0; j < a.nk; ++j) sum += kr.v[j * a.kv_stride + d];
    o[d] = sum * inv_t;
  }
}

template <int kMD, bool kCausal>
__device__ void write_rows(const AttnArgs& a, const KeyRange& kr, int64_t b, int64_t h, int64_t q0,
                           const RowState (&rows)[kRowsPerWarp], const float (&acc)[kRowsPerWarp][kMD]) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int u = 0; u < kRowsPerWarp; ++u) {
    const int64_t i = q0 + kRowsPerWarp * warp + u;
    if (i >= a.nq) break;
    float* o = a.out + (b * a.nq + i) * a.out_stride + h * a.head_dim;
    if (kCausal && rows[u].max == -INFINITY) {
      uniform_average<kMD>(a, kr, o);
      continue;
    }
    const float inv = 1.0f / rows[u].sum;  // the CPU's softmax multiplies by 1 / sum too
#pragma unroll
    for (int m = 0; m < kMD; ++m) {
      const int64_t d = lane + 32 * m;
      if (d < a.head_dim) o[d] = acc[u][m] * inv;
    }
  }
}

// Warp w owns queries q0 + 4w .. q0 + 4w + 3 and lane l owns key j0 + l of each tile while
// scoring, dims l, l + 32, ... while accumulating; only the K/V tiles are shared.
template <int kMD, bool kCausal>
__global__ void __launch_bounds__(kAttnThreads) attention_kernel(AttnArgs a) {
  extern __shared__ float4 shared_f4[];
  float* qT = reinterpret_cast<float*>(shared_f4);
  const int D = static_cast<int>(a.head_dim);
  const int ld = D | 1;
  float* tile = qT + D * kQueryTile;
  // 32 * ld floats past a float4 boundary: still one.
  float4* probs = reinterpret_cast<float4*>(tile + kKeyTile * ld) + (threadIdx.x >> 5) * kKeyTile;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kQueryTile, h = blockIdx.y, b = blockIdx.z;
  const KeyRange kr = key_range<kCausal>(a, b, h, q0);
  const int lane = threadIdx.x & 31;
  int cols[kMD];
#pragma unroll
  for (int m = 0; m < kMD; ++m) cols[m] = min(lane + 32 * m, D - 1);  // dims past D: read, never written
  stage_queries(a, b, h, q0, qT);
  RowState rows[kRowsPerWarp];
  float acc[kRowsPerWarp][kMD] = {};
  for (int64_t j0 = kr.begin; j0 < kr.end; j0 += kKeyTile) {
    const int count = static_cast<int>(min(static_cast<int64_t>(kKeyTile), kr.end - j0));
    __syncthreads();  // the previous V tile (and, first time, qT's writes)
    stage_rows(kr.k, a.kv_stride, j0, count, D, ld, tile);
    __syncthreads();
    float s[kRowsPerWarp];
    tile_scores<kCausal>(a, kr, qT, tile, ld, q0, j0, count, s);
    __syncthreads();  // K is read; V takes its place
    stage_rows(kr.v, a.kv_stride, j0, count, D, ld, tile);
    float p[kRowsPerWarp];
#pragma unroll
    for (int u = 0; u < kRowsPerWarp; ++u) {
      float rescale;
      p[u] = online_update(rows[u], s[u], rescale);
#pragma unroll
      for (int m = 0; m < kMD; ++m) acc[u][m] *= rescale;
    }
    probs[lane] = make_float4(p[0], p[1], p[2], p[3]);
    __syncthreads();  // V and probs are written
    accumulate_values<kMD>(tile, ld, count, cols, probs, acc);
  }
  write_rows<kMD, kCausal>(a, kr, b, h, q0, rows, acc);
}

// qT, the K/V tile and each warp's probabilities (see attention_kernel).
size_t attention_shared_bytes(int64_t head_dim) {
  const int64_t floats = head_dim * kQueryTile + kKeyTile * (head_dim | 1) + kWarps * kKeyTile * kRowsPerWarp;
  return static_cast<size_t>(floats) * sizeof(float);
}

// Above the default 48 KiB a kernel must opt in, up to the device's own limit.
template <typename Kernel>
void allow_shared_bytes(Kernel* kernel, size_t bytes, const char* op, int64_t head_dim) {
  if (bytes <= kDefaultSharedBytes) return;
  int device = 0, limit = 0;
  SANA_CUDA_CHECK(cudaGetDevice(&device));
  SANA_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (bytes > static_cast<size_t>(limit))
    fail(std::string(op) + ": head_dim " + std::to_string(head_dim) + " needs " + std::to_string(bytes) +
         " bytes of shared memory per block; this device allows " + std::to_string(limit));
  SANA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <int kMD, bool kCausal>
void launch_attention_tiles(cudaStream_t stream, const AttnArgs& a, int64_t batch, const char* op) {
  const size_t bytes = attention_shared_bytes(a.head_dim);
  allow_shared_bytes(attention_kernel<kMD, kCausal>, bytes, op, a.head_dim);
  const dim3 grid(static_cast<unsigned>((a.nq + kQueryTile - 1) / kQueryTile), static_cast<unsigned>(a.heads),
                  static_cast<unsigned>(batch));
  attention_kernel<kMD, kCausal><<<grid, kAttnThreads, bytes, stream>>>(a);
  SANA_CUDA_CHECK_LAUNCH();
}

// Picks the accumulator width (32-dim groups per lane) for head_dim.
template <bool kCausal>
void launch_attention(cudaStream_t stream, const AttnArgs& a, int64_t batch, const char* op) {
  if (a.head_dim > kMaxHeadDim)
    fail(std::string(op) + ": head_dim " + std::to_string(a.head_dim) + " exceeds the CUDA kernel's limit of " +
         std::to_string(kMaxHeadDim));
  if (a.heads > 65535 || batch > 65535 || (a.nq + kQueryTile - 1) / kQueryTile > 0x7fffffff)
    fail(std::string(op) + ": " + std::to_string(batch) + " x " + std::to_string(a.heads) + " x " +
         std::to_string(a.nq) + " (batch x heads x queries) exceeds the CUDA grid");
  if (a.head_dim <= 32)
    launch_attention_tiles<1, kCausal>(stream, a, batch, op);
  else if (a.head_dim <= 64)
    launch_attention_tiles<2, kCausal>(stream, a, batch, op);
  else if (a.head_dim <= 128)
    launch_attention_tiles<4, kCausal>(stream, a, batch, op);
  else
    launch_attention_tiles<8, kCausal>(stream, a, batch, op);
}

// ---- Gemma-2 elementwise ----------------------------------------------------------------

__global__ void rope_kernel(float* x, int64_t rows, int64_t tokens, int64_t heads, int64_t head_dim,
                            int64_t stride, const float* cos, const float* sin) {
  const int64_t half = head_dim / 2, n = rows * heads * half;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx % half, rh = idx / half, h = rh % heads, r = rh / heads;
    // The angle table is per position: every batch item reuses it.
    const int64_t angle = (r % tokens) * half + i;
    float* x1 = x + r * stride + h * head_dim + i;
    float* x2 = x1 + half;
    const float c = cos[angle], s = sin[angle], p = *x1, q = *x2;
    *x1 = p * c - q * s;
    *x2 = q * c + p * s;
  }
}

__global__ void geglu_kernel(const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out) {
  const int64_t total = rows * n;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / n, i = idx - r * n;
    const float* row = x + r * x_stride;
    out[idx] = gelu_tanh(row[i]) * row[n + i];
  }
}

}  // namespace

void linear_attention(cudaStream_t stream, const float* q, const float* k, const float* v, int64_t stride,
                      int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, const uint8_t* identity,
                      float* out, int64_t out_stride) {
  if (batch <= 0 || tokens <= 0 || heads <= 0 || head_dim <= 0) return;
  if (head_dim > kLinearMaxDim)
    fail("linear_attention: head_dim " + std::to_string(head_dim) + " exceeds the CUDA kernel's limit of " +
         std::to_string(kLinearMaxDim));
  if (batch * heads > 0x7fffffff)
    fail("linear_attention: batch x heads = " + std::to_string(batch * heads) + " exceeds the CUDA grid");
  const LinearArgs a{q, k, v, stride, tokens, heads, head_dim, identity, out, out_stride};
  linear_attention_kernel<<<static_cast<unsigned>(batch * heads), kLinearThreads, 0, stream>>>(a);
  SANA_CUDA_CHECK_LAUNCH();
}

void softmax_attention(cudaStream_t stream, const float* q, int64_t q_stride, const float* k, const float* v,
                       int64_t kv_stride, const float* key_bias, const int64_t* kv_index, int64_t batch, int64_t nq,
                       int64_t nk, int64_t heads, int64_t head_dim, float scale, float* out, int64_t out_stride) {
  if (batch <= 0 || nq <= 0 || heads <= 0 || head_dim <= 0) return;
  // The CPU's softmax of an empty row is undefined; say so instead of writing garbage.
  check(nk > 0, "softmax_attention: no keys (nk = " + std::to_string(nk) + ")");
  const AttnArgs a{.q = q, .q_stride = q_stride, .k = k, .v = v, .kv_stride = kv_stride, .out = out,
                   .out_stride = out_stride, .nq = nq, .nk = nk, .heads = heads, .head_dim = head_dim,
                   .scale = scale, .key_bias = key_bias, .kv_index = kv_index};
  launch_attention<false>(stream, a, batch, "softmax_attention");
}

void rope(cudaStream_t stream, float* x, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim,
          int64_t stride, const float* cos, const float* sin) {
  const int64_t n = batch * tokens * heads * (head_dim / 2);
  if (batch <= 0 || tokens <= 0 || heads <= 0 || n <= 0) return;
  rope_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, batch * tokens, tokens, heads, head_dim, stride, cos, sin);
  SANA_CUDA_CHECK_LAUNCH();
}

void geglu(cudaStream_t stream, const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out) {
  if (rows <= 0 || n <= 0) return;
  geglu_kernel<<<grid_for(rows * n), kThreads, 0, stream>>>(x, rows, n, x_stride, out);
  SANA_CUDA_CHECK_LAUNCH();
}

void causal_attention(cudaStream_t stream, const float* q, int64_t q_stride, const float* k, const float* v,
                      int64_t kv_stride, const float* key_valid, const Backend::CausalAttentionShape& shape,
                      float* out, int64_t out_stride) {
  if (shape.batch <= 0 || shape.tokens <= 0 || shape.heads <= 0 || shape.head_dim <= 0) return;
  check(shape.kv_heads > 0 && shape.heads % shape.kv_heads == 0,
        "causal_attention: heads (" + std::to_string(shape.heads) + ") must be a multiple of kv_heads (" +
            std::to_string(shape.kv_heads) + ")");
  const AttnArgs a{.q = q, .q_stride = q_stride, .k = k, .v = v, .kv_stride = kv_stride, .out = out,
                   .out_stride = out_stride, .nq = shape.tokens, .nk = shape.tokens, .heads = shape.heads,
                   .head_dim = shape.head_dim, .scale = shape.scale, .key_valid = key_valid,
                   .softcap = shape.softcap, .window = shape.window, .group = shape.heads / shape.kv_heads};
  launch_attention<true>(stream, a, shape.batch, "causal_attention");
}

}  // namespace sana::cuda::kernels
