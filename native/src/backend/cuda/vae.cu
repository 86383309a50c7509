// DC-AE's ops on NHWC images: the direct and im2col convolutions, the depthwise conv, the
// affine RMSNorm, the resampling shortcuts and the multi-scale ReLU attention. The CUDA side
// of cpu/vae_conv.cpp, vae_norm.cpp, vae_shortcut.cpp and vae_attention.cpp, computing the
// same values; where the order of a sum changes the rounding, the CPU order is kept when it
// costs nothing (norms, shortcuts, depthwise taps, quadratic attention).
//
// Most kernels give one warp to one pixel (or row) and spread its channels over the lanes:
// the 64-bit index arithmetic is then done once per pixel, not once per element, and the
// lanes read and write consecutive channels.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"
#include "sana/error.h"

namespace sana::cuda::kernels {

namespace {

constexpr int kWarp = 32;
constexpr float kAttentionEps = 1e-15f;  // SanaMultiscaleLinearAttention(eps=1e-15)
constexpr int kMaxHeadDim = 64;          // the linear attention's summary lives in shared memory

// ---- shared helpers ---------------------------------------------------------------------

__device__ __forceinline__ int64_t global_warp() {
  return (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
}
__device__ __forceinline__ int64_t warp_count() { return static_cast<int64_t>(gridDim.x) * blockDim.x / kWarp; }
__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x) & (kWarp - 1); }

__device__ __forceinline__ float relu(float v) { return v > 0.0f ? v : 0.0f; }  // NaN -> 0, as the CPU's

// The warp's double sum, every lane gets the total (the CPU norm sums squares in double).
__device__ __forceinline__ double warp_sum_double(double v) {
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// V consecutive floats moved as one access when the caller proved them 16-byte aligned.
template <int V>
struct Floats {
  float v[V];
};

template <int V>
__device__ __forceinline__ Floats<V> load(const float* p) {
  Floats<V> r;
  if constexpr (V == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    r.v[0] = q.x, r.v[1] = q.y, r.v[2] = q.z, r.v[3] = q.w;
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) r.v[k] = p[k];
  }
  return r;
}

template <int V>
__device__ __forceinline__ Floats<V> zeros() {
  Floats<V> r;
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = 0.0f;
  return r;
}

template <int V>
__device__ __forceinline__ void store(float* p, const Floats<V>& r) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) p[k] = r.v[k];
  }
}

struct alignas(8) Bf16x4 {
  __nv_bfloat162 lo, hi;
};

template <int V>
__device__ __forceinline__ void store(__nv_bfloat16* p, const Floats<V>& r) {
  if constexpr (V == 4) {
    *reinterpret_cast<Bf16x4*>(p) = {__floats2bfloat162_rn(r.v[0], r.v[1]), __floats2bfloat162_rn(r.v[2], r.v[3])};
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) p[k] = __float2bfloat16_rn(r.v[k]);
  }
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Blocks for a launch whose blocks stride over `items` units of block-sized work.
unsigned blocks_for(int64_t items) { return grid_for(items, 1); }

// Blocks for a launch that gives each of `items` units a warp.
unsigned warp_blocks_for(int64_t items) { return grid_for(items * kWarp); }

// ---- convolutions -----------------------------------------------------------------------

// Conv2dShape with the derived sizes precomputed: its methods are host-only.
struct ConvGeom {
  int64_t batch, height, width, cin, cout, kernel, stride, groups, up;
  int64_t pad, oh, ow, hv, wv, cin_g, cout_g;
};

ConvGeom conv_geom(const Backend::Conv2dShape& s) {
  return {s.batch,
          s.height,
          s.width,
          s.in_channels,
          s.out_channels,
          s.kernel,
          s.stride,
          s.groups,
          s.upsample,
          s.kernel / 2,
          s.out_height(),
          s.out_width(),
          s.height * s.upsample,
          s.width * s.upsample,
          s.in_channels / s.groups,
          s.out_channels / s.groups};
}

// The CPU's check_conv (vae_conv.cpp), except that any upsample >= 1 works here; run before
// the empty-work test because a bad kernel or group count makes the geometry meaningless.
void check_conv(const Backend::Conv2dShape& s, const char* op) {
  const std::string what = std::string(op) + " " + std::to_string(s.in_channels) + "->" +
                           std::to_string(s.out_channels) + " k" + std::to_string(s.kernel) + " s" +
                           std::to_string(s.stride) + " g" + std::to_string(s.groups) + " up" +
                           std::to_string(s.upsample) + ": ";
  check(s.kernel >= 1 && s.kernel % 2 == 1, what + "kernel must be odd");
  check(s.stride >= 1, what + "stride must be >= 1");
  check(s.upsample >= 1, what + "upsample must be >= 1");
  check(s.groups >= 1 && s.in_channels % s.groups == 0 && s.out_channels % s.groups == 0,
        what + "groups must divide both channel counts");
}

bool conv_empty(const ConvGeom& g) {
  return g.batch <= 0 || g.height <= 0 || g.width <= 0 || g.cout <= 0 || g.oh <= 0 || g.ow <= 0;
}

// Input pixel offset (in floats, channel 0) of the tap at upsampled coordinates (iy, ix), or
// -1 in the zero padding. Nearest upsampling: stored pixel = floor(coordinate / up).
__device__ __forceinline__ int64_t tap_offset(const ConvGeom& g, int64_t b, int64_t iy, int64_t ix) {
  if (iy < 0 || iy >= g.hv || ix < 0 || ix >= g.wv) return -1;
  return ((b * g.height + iy / g.up) * g.width + ix / g.up) * g.cin;
}

// Warp per output pixel, lanes over output channels: lanes of one group read the same input
// vector (a broadcast), each lane its own weight row. Sum over (ky, kx, ci) from zero, then
// + bias, then act: the CPU's GEMM-then-finish_rows order (vae_conv.cpp:145-148).
template <int V>
__global__ void conv2d_direct_kernel(const float* x, ConvGeom g, const float* weight, const float* bias,
                                     Activation act, float* y) {
  const int64_t pixels = g.batch * g.oh * g.ow, kg = g.kernel * g.kernel * g.cin_g;
  for (int64_t p = global_warp(); p < pixels; p += warp_count()) {
    const int64_t ox = p % g.ow, q = p / g.ow, oy = q % g.oh, b = q / g.oh;
    for (int64_t co = lane_id(); co < g.cout; co += kWarp) {
      const float* xg = x + (co / g.cout_g) * g.cin_g;
      const float* wrow = weight + co * kg;
      float acc = 0.0f;
      for (int64_t ky = 0; ky < g.kernel; ++ky) {
        for (int64_t kx = 0; kx < g.kernel; ++kx) {
          const int64_t at = tap_offset(g, b, oy * g.stride + ky - g.pad, ox * g.stride + kx - g.pad);
          if (at < 0) continue;  // zero padding adds nothing
          const float* src = xg + at;
          const float* w = wrow + (ky * g.kernel + kx) * g.cin_g;
          for (int64_t ci = 0; ci < g.cin_g; ci += V) {
            const Floats<V> xv = load<V>(src + ci), wv = load<V>(w + ci);
#pragma unroll
            for (int k = 0; k < V; ++k) acc = fmaf(wv.v[k], xv.v[k], acc);
          }
        }
      }
      if (bias != nullptr) acc += bias[co];
      y[p * g.cout + co] = cuda::activate(act, acc);  // qualified: kernels::activate is a launcher
    }
  }
}

// Warp per output pixel of the band; lanes over that pixel's column row of taps * cin
// values, V channels at a time, so the writes are contiguous across the warp.
template <typename T, int V>
__global__ void im2col_kernel(const float* x, ConvGeom g, int64_t row0, int64_t rows, T* cols) {
  const int64_t pixels = g.batch * rows * g.ow;
  const int cv = static_cast<int>(g.cin / V), k = static_cast<int>(g.kernel);
  const int vectors = k * k * cv;  // per pixel: 32-bit index math from here on
  for (int64_t p = global_warp(); p < pixels; p += warp_count()) {
    const int64_t ox = p % g.ow, q = p / g.ow, oy = row0 + q % rows, b = q / rows;
    T* dst = cols + p * (k * k * g.cin);  // row (b * rows + r) * ow + ox is p itself
    for (int e = lane_id(); e < vectors; e += kWarp) {
      const int tap = e / cv, c = (e - tap * cv) * V, ky = tap / k, kx = tap - ky * k;
      const int64_t at = tap_offset(g, b, oy * g.stride + ky - g.pad, ox * g.stride + kx - g.pad);
      store<V>(dst + static_cast<int64_t>(e) * V, at < 0 ? zeros<V>() : load<V>(x + at + c));
    }
  }
}

template <typename T>
void im2col(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, int64_t row0, int64_t rows,
            T* cols) {
  check_conv(shape, "im2col");
  check(shape.groups == 1, "im2col: only groups == 1 convs have one column matrix, got groups " +
                               std::to_string(shape.groups));
  const ConvGeom g = conv_geom(shape);
  check(row0 >= 0 && rows >= 0 && row0 + rows <= g.oh,
        "im2col: output rows [" + std::to_string(row0) + ", " + std::to_string(row0 + rows) + ") outside [0, " +
            std::to_string(g.oh) + ")");
  check(g.kernel * g.kernel * g.cin < (int64_t{1} << 31), "im2col: a column row must hold fewer than 2^31 values");
  if (rows <= 0 || conv_empty(g) || g.cin <= 0) return;
  const int64_t pixels = g.batch * rows * g.ow;
  if (g.cin % 4 == 0 && aligned16(x) && reinterpret_cast<uintptr_t>(cols) % (4 * sizeof(T)) == 0) {
    im2col_kernel<T, 4><<<warp_blocks_for(pixels), kThreads, 0, stream>>>(x, g, row0, rows, cols);
  } else {
    im2col_kernel<T, 1><<<warp_blocks_for(pixels), kThreads, 0, stream>>>(x, g, row0, rows, cols);
  }
  SANA_CUDA_CHECK_LAUNCH();
}

// Warp per pixel, lanes over channel vectors. acc starts at the bias and adds the in-image
// taps in (ky, kx) order, as the CPU does (vae_conv.cpp:180-187).
template <int V>
__global__ void depthwise_kernel(const float* x, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                 int64_t kernel, const float* weight, const float* bias, float* y) {
  const int64_t pixels = batch * height * width, pad = kernel / 2;
  for (int64_t p = global_warp(); p < pixels; p += warp_count()) {
    const int64_t xx = p % width, q = p / width, yy = q % height, b = q / height;
    for (int64_t c = static_cast<int64_t>(lane_id()) * V; c < channels; c += kWarp * V) {
      Floats<V> acc = bias != nullptr ? load<V>(bias + c) : zeros<V>();
      for (int64_t ky = 0; ky < kernel; ++ky) {
        const int64_t sy = yy + ky - pad;
        if (sy < 0 || sy >= height) continue;
        for (int64_t kx = 0; kx < kernel; ++kx) {
          const int64_t sx = xx + kx - pad;
          if (sx < 0 || sx >= width) continue;
          const Floats<V> w = load<V>(weight + (ky * kernel + kx) * channels + c);
          const Floats<V> s = load<V>(x + ((b * height + sy) * width + sx) * channels + c);
#pragma unroll
          for (int k = 0; k < V; ++k) acc.v[k] = fmaf(w.v[k], s.v[k], acc.v[k]);
        }
      }
      store<V>(y + p * channels + c, acc);
    }
  }
}

// ---- RMSNorm ----------------------------------------------------------------------------

// Warp per row. Squares summed in double and the scale formed as the CPU does
// (vae_norm.cpp:16-18); every element is read and written by the same lane after the whole
// row was read, so x, residual and y may alias.
template <int V>
__global__ void rms_norm_affine_kernel(const float* x, int64_t rows, int64_t d, const float* weight,
                                       const float* bias, float eps, const float* residual, float* y) {
  for (int64_t r = global_warp(); r < rows; r += warp_count()) {
    const float* xr = x + r * d;
    double ss = 0.0;
    for (int64_t i = static_cast<int64_t>(lane_id()) * V; i < d; i += kWarp * V) {
      const Floats<V> v = load<V>(xr + i);
#pragma unroll
      for (int k = 0; k < V; ++k) ss += static_cast<double>(v.v[k]) * v.v[k];
    }
    ss = warp_sum_double(ss);
    const float inv = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(d)) + eps);
    for (int64_t i = static_cast<int64_t>(lane_id()) * V; i < d; i += kWarp * V) {
      Floats<V> v = load<V>(xr + i);
      const Floats<V> w = load<V>(weight + i);
      const Floats<V> b = bias != nullptr ? load<V>(bias + i) : zeros<V>();
      const Floats<V> res = residual != nullptr ? load<V>(residual + r * d + i) : zeros<V>();
#pragma unroll
      for (int k = 0; k < V; ++k) v.v[k] = (v.v[k] * inv * w.v[k] + b.v[k]) + res.v[k];  // the reference's order
      store<V>(y + r * d + i, v);
    }
  }
}

// ---- resampling shortcuts ---------------------------------------------------------------
// Channel u of a pixel-(un)shuffled tensor is (c, i, j) = (u / f^2, (u / f) % f, u % f)
// (vae_shortcut.cpp:36-37). The channel maps use 32-bit math (the launchers check the
// range): a 64-bit division per element would cost more than the memory traffic.

// Warp per output pixel: y[c] += x[(c * f^2 + i * f + j) / repeats] (vae_shortcut.cpp:62).
__global__ void add_channel_repeat_kernel(const float* x, int64_t batch, int64_t height, int64_t width,
                                          int64_t in_channels, int factor, int out_channels, int repeats, float* y) {
  const int64_t oh = height * factor, ow = width * factor, pixels = batch * oh * ow;
  const int ff = factor * factor;
  for (int64_t p = global_warp(); p < pixels; p += warp_count()) {
    const int64_t ox = p % ow, q = p / ow, oy = q % oh, b = q / oh;
    const int sub = static_cast<int>(oy % factor) * factor + static_cast<int>(ox % factor);
    const float* src = x + ((b * height + oy / factor) * width + ox / factor) * in_channels;
    float* dst = y + p * out_channels;
    for (int c = lane_id(); c < out_channels; c += kWarp) dst[c] += src[(c * ff + sub) / repeats];
  }
}

// Warp per output pixel, lane per output channel: sum the group's unshuffled channels from
// zero in order, then divide by the count, as torch.mean (vae_shortcut.cpp:85-91).
__global__ void add_channel_group_mean_kernel(const float* x, int64_t batch, int64_t height, int64_t width,
                                              int64_t in_channels, int factor, int out_channels, int group,
                                              float* y) {
  const int64_t oh = height / factor, ow = width / factor, pixels = batch * oh * ow;
  const int ff = factor * factor;
  const float count = static_cast<float>(group);
  for (int64_t p = global_warp(); p < pixels; p += warp_count()) {
    const int64_t ox = p % ow, q = p / ow, oy = q % oh, b = q / oh;
    const float* block = x + ((b * height + oy * factor) * width + ox * factor) * in_channels;  // sub-pixel (0, 0)
    float* dst = y + p * out_channels;
    for (int o = lane_id(); o < out_channels; o += kWarp) {
      float sum = 0.0f;
      for (int t = 0; t < group; ++t) {
        const int u = o * group + t, c = u / ff, i = (u / factor) % factor, j = u % factor;
        sum += block[(static_cast<int64_t>(i) * width + j) * in_channels + c];
      }
      dst[o] += sum / count;
    }
  }
}

// ---- ReLU attention ---------------------------------------------------------------------
// A group's token row holds q | k | v, head_dim (d) floats each. The linear form's key
// summary (vae_attention.cpp:119-135) is kv[j * d + i] = sum_n relu(k_n)[j] v_n[i] and
// ksum[j] = sum_n relu(k_n)[j]. Kernels are instantiated for a padded head dim D in
// {8, 16, 32, 64}: columns d..D-1 are staged as zeros, so they add nothing and are never
// written. The CPU skips zero relu(k) / relu(q) terms; adding them here changes nothing for
// finite inputs (relu gives +0, and x + +-0 = x).

template <int D>
struct Attn {
  static constexpr int kBlocks = D / 4;                      // 4-wide blocks along j and i
  static constexpr int kTiles = kBlocks * kBlocks;           // 4x4 register tiles of kv
  static constexpr int kSlices = kThreads / kTiles;          // threads sharing a tile split the tokens
  static constexpr int kStageTokens = 2048 / D;              // k and v of these: 16 KiB of shared memory
  static constexpr int kApplyTokens = kThreads / kBlocks;    // a thread per (token, 4 outputs)
  static constexpr int kSummary = D * D + D;                 // kv (row stride D), then ksum
  static constexpr int kScratch = std::max({2 * kStageTokens * D, kSlices * kSummary, kApplyTokens * (D + 1)});
  static_assert(kThreads % kTiles == 0 && kStageTokens % kSlices == 0, "the tiling must cover the block");
};

// Adds the key summary of tokens [n0, n1) of the group whose q starts at `grp` into the
// block's shared `summary` (D layout). Thread (slice, tile) owns a 4x4 tile of kv for every
// kSlices-th staged token; the slices are reduced at the end. Called by the whole block.
template <int D>
__device__ void accumulate_summary(const float* grp, int64_t stride, int64_t n0, int64_t n1, int d, float* scratch,
                                   float* summary) {
  using A = Attn<D>;
  const int tile = static_cast<int>(threadIdx.x) % A::kTiles, slice = static_cast<int>(threadIdx.x) / A::kTiles;
  const int j0 = tile / A::kBlocks * 4, i0 = tile % A::kBlocks * 4;
  float* ks = scratch;
  float* vs = scratch + A::kStageTokens * D;
  float acc[4][4] = {}, ksum[4] = {};
  for (int64_t base = n0; base < n1; base += A::kStageTokens) {
    __syncthreads();  // the previous stage is no longer read
    for (int e = threadIdx.x; e < A::kStageTokens * D; e += blockDim.x) {
      const int t = e / D, c = e % D;
      float k = 0.0f, v = 0.0f;
      if (base + t < n1 && c < d) {
        const float* row = grp + (base + t) * stride;
        k = relu(row[d + c]);
        v = row[2 * d + c];
      }
      ks[e] = k;
      vs[e] = v;
    }
    __syncthreads();
    const int valid = static_cast<int>(min(static_cast<int64_t>(A::kStageTokens), n1 - base));
    for (int t = slice; t < valid; t += A::kSlices) {
      const float4 k = *reinterpret_cast<const float4*>(ks + t * D + j0);
      const float4 v = *reinterpret_cast<const float4*>(vs + t * D + i0);
      const float kk[4] = {k.x, k.y, k.z, k.w}, vv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int a = 0; a < 4; ++a) {
        ksum[a] += kk[a];
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[a][c] = fmaf(kk[a], vv[c], acc[a][c]);
      }
    }
  }
  __syncthreads();  // the stage buffers become the slices' partial sums
  float* part = scratch + slice * A::kSummary;
#pragma unroll
  for (int a = 0; a < 4; ++a) {
#pragma unroll
    for (int c = 0; c < 4; ++c) part[(j0 + a) * D + i0 + c] = acc[a][c];
    if (i0 == 0) part[D * D + j0 + a] = ksum[a];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < A::kSummary; e += blockDim.x) {
    float total = 0.0f;
    for (int s = 0; s < A::kSlices; ++s) total += scratch[s * A::kSummary + e];
    summary[e] = total;
  }
  __syncthreads();
}

// out_n = kv^T relu(q_n) / (ksum . relu(q_n) + eps) for tokens [n0, n1), summing j upward
// from zero and dividing (not multiplying by a reciprocal) as apply_summary does
// (vae_attention.cpp:138-157). summary: shared, D layout, complete. Called by the whole block.
template <int D>
__device__ void apply_summary(const float* grp, int64_t stride, int64_t n0, int64_t n1, int d, const float* summary,
                              float* scratch, float* out, int64_t out_stride) {
  using A = Attn<D>;
  const int i0 = static_cast<int>(threadIdx.x) % A::kBlocks * 4, t = static_cast<int>(threadIdx.x) / A::kBlocks;
  float* qs = scratch;  // rows padded to D + 1: the lanes' different tokens hit different banks
  for (int64_t base = n0; base < n1; base += A::kApplyTokens) {
    __syncthreads();  // the previous stage is no longer read
    for (int e = threadIdx.x; e < A::kApplyTokens * D; e += blockDim.x) {
      const int r = e / D, c = e % D;
      qs[r * (D + 1) + c] = base + r < n1 && c < d ? relu(grp[(base + r) * stride + c]) : 0.0f;
    }
    __syncthreads();
    if (base + t >= n1) continue;
    float den = 0.0f, o[4] = {};
#pragma unroll 8
    for (int j = 0; j < D; ++j) {
      const float q = qs[t * (D + 1) + j];
      const float4 kv = *reinterpret_cast<const float4*>(summary + j * D + i0);
      den = fmaf(q, summary[D * D + j], den);
      o[0] = fmaf(q, kv.x, o[0]);
      o[1] = fmaf(q, kv.y, o[1]);
      o[2] = fmaf(q, kv.z, o[2]);
      o[3] = fmaf(q, kv.w, o[3]);
    }
    const float denom = den + kAttentionEps;
    float* dst = out + (base + t) * out_stride;
#pragma unroll
    for (int c = 0; c < 4; ++c)
      if (i0 + c < d) dst[i0 + c] = o[c] / denom;
  }
}

// Block per (batch item, group): the whole summary, then its application to every token.
// Without a workspace the summary cannot leave the block, so the tokens are not split.
template <int D>
__global__ void relu_linear_attention_kernel(const float* qkv, int64_t stride, int64_t batch, int64_t tokens,
                                             int64_t groups, int d, float* out, int64_t out_stride) {
  __shared__ __align__(16) float scratch[Attn<D>::kScratch];
  __shared__ __align__(16) float summary[Attn<D>::kSummary];
  for (int64_t item = blockIdx.x; item < batch * groups; item += gridDim.x) {
    const int64_t b = item / groups, g = item % groups;
    const float* grp = qkv + b * tokens * stride + g * 3 * d;
    accumulate_summary<D>(grp, stride, 0, tokens, d, scratch, summary);
    apply_summary<D>(grp, stride, 0, tokens, d, summary, scratch, out + b * tokens * out_stride + g * d, out_stride);
  }
}

constexpr int64_t kStatsChunk = 512;  // tokens per block: ~1k atomics per block stay negligible
constexpr int64_t kApplyChunk = 512;  // tokens per block: amortises loading the summary

__host__ __device__ inline int64_t chunks(int64_t tokens, int64_t chunk) { return (tokens + chunk - 1) / chunk; }

// Block per (group, token chunk): its chunk's summary, added to the group's stats (layout d:
// kv[j * d + i], then ksum[j]) with atomics, since other chunks and calls add to it too.
template <int D>
__global__ void relu_attention_stats_kernel(const float* qkv, int64_t stride, int64_t tokens, int64_t groups, int d,
                                            float* stats) {
  __shared__ __align__(16) float scratch[Attn<D>::kScratch];
  __shared__ __align__(16) float summary[Attn<D>::kSummary];
  const int64_t per_chunk = chunks(tokens, kStatsChunk);
  for (int64_t item = blockIdx.x; item < groups * per_chunk; item += gridDim.x) {
    const int64_t g = item / per_chunk, n0 = item % per_chunk * kStatsChunk;
    accumulate_summary<D>(qkv + g * 3 * d, stride, n0, min(tokens, n0 + kStatsChunk), d, scratch, summary);
    float* st = stats + g * (static_cast<int64_t>(d) * d + d);
    for (int e = threadIdx.x; e < Attn<D>::kSummary; e += blockDim.x) {
      const int j = e / D, i = e % D;  // j == D: the ksum row
      if (j < d && i < d) atomicAdd(st + j * d + i, summary[e]);
      if (j == D && i < d) atomicAdd(st + d * d + i, summary[e]);
    }
  }
}

// Block per (group, token chunk): the finished summary from stats (layout d), zero-padded to
// D in shared memory, applied to the chunk's tokens.
template <int D>
__global__ void relu_attention_apply_kernel(const float* qkv, int64_t stride, int64_t tokens, int64_t groups, int d,
                                            const float* stats, float* out, int64_t out_stride) {
  __shared__ __align__(16) float scratch[Attn<D>::kScratch];
  __shared__ __align__(16) float summary[Attn<D>::kSummary];
  const int64_t per_chunk = chunks(tokens, kApplyChunk);
  for (int64_t item = blockIdx.x; item < groups * per_chunk; item += gridDim.x) {
    const int64_t g = item / per_chunk, n0 = item % per_chunk * kApplyChunk;
    const float* st = stats + g * (static_cast<int64_t>(d) * d + d);
    __syncthreads();  // the previous item's summary is no longer read
    for (int e = threadIdx.x; e < Attn<D>::kSummary; e += blockDim.x) {
      const int j = e / D, i = e % D;
      float v = 0.0f;
      if (j < d && i < d) v = st[j * d + i];
      if (j == D && i < d) v = st[d * d + i];
      summary[e] = v;
    }
    __syncthreads();
    apply_summary<D>(qkv + g * 3 * d, stride, n0, min(tokens, n0 + kApplyChunk), d, summary, scratch,
                     out + g * d, out_stride);
  }
}

// relu(k_j) . relu(q_i), summed over c upward from zero as quadratic_group does.
__device__ __forceinline__ float relu_dot(const float* k, const float* q, int64_t d) {
  float dot = 0.0f;
  for (int64_t c = 0; c < d; ++c) dot = fmaf(relu(k[c]), relu(q[c]), dot);
  return dot;
}

// Thread per output element (tokens <= head_dim, so tiny): the scores are recomputed rather
// than stored, in the CPU's order: total over j, w = s_j / (total + eps), out += v_j * w
// (vae_attention.cpp:170-194).
__global__ void relu_quadratic_attention_kernel(const float* qkv, int64_t stride, int64_t batch, int64_t tokens,
                                                int64_t groups, int64_t d, float* out, int64_t out_stride) {
  const int64_t n = batch * tokens * groups * d;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = idx % d, r = idx / d, g = r % groups, row = r / groups, b = row / tokens;
    const float* qi = qkv + row * stride + g * 3 * d;
    const float* grp = qkv + b * tokens * stride + g * 3 * d;
    float total = 0.0f;
    for (int64_t j = 0; j < tokens; ++j) total += relu_dot(grp + j * stride + d, qi, d);
    const float denom = total + kAttentionEps;
    float o = 0.0f;
    for (int64_t j = 0; j < tokens; ++j) {
      const float w = relu_dot(grp + j * stride + d, qi, d) / denom;
      o = fmaf(grp[j * stride + 2 * d + c], w, o);
    }
    out[row * out_stride + g * d + c] = o;
  }
}

void check_attention(const char* op, int64_t qkv_stride, int64_t groups, int64_t head_dim, int64_t out_stride,
                     bool linear) {
  check(qkv_stride >= groups * 3 * head_dim && out_stride >= groups * head_dim,
        std::string(op) + ": strides too small for " + std::to_string(groups) + " groups of " +
            std::to_string(head_dim));
  if (linear && head_dim > kMaxHeadDim)
    fail(std::string(op) + ": head_dim " + std::to_string(head_dim) + " exceeds the CUDA kernels' limit of " +
         std::to_string(kMaxHeadDim) + " (the key summary is kept in shared memory)");
}

// Calls launch(std::integral_constant<int, D>) with the padded head dim D >= head_dim.
template <typename Launch>
void with_padded_head_dim(int64_t head_dim, Launch&& launch) {
  if (head_dim <= 8) {
    launch(std::integral_constant<int, 8>{});
  } else if (head_dim <= 16) {
    launch(std::integral_constant<int, 16>{});
  } else if (head_dim <= 32) {
    launch(std::integral_constant<int, 32>{});
  } else {
    launch(std::integral_constant<int, 64>{});
  }
}

}  // namespace

void conv2d_direct(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, const float* weight,
                   const float* bias, Activation act, float* y) {
  check_conv(shape, "conv2d_direct");
  const ConvGeom g = conv_geom(shape);
  if (conv_empty(g)) return;
  const int64_t pixels = g.batch * g.oh * g.ow;
  if (g.cin_g % 4 == 0 && aligned16(x) && aligned16(weight)) {
    conv2d_direct_kernel<4><<<warp_blocks_for(pixels), kThreads, 0, stream>>>(x, g, weight, bias, act, y);
  } else {
    conv2d_direct_kernel<1><<<warp_blocks_for(pixels), kThreads, 0, stream>>>(x, g, weight, bias, act, y);
  }
  SANA_CUDA_CHECK_LAUNCH();
}

void im2col_bf16(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, int64_t row0, int64_t rows,
                 __nv_bfloat16* cols) {
  im2col(stream, x, shape, row0, rows, cols);
}

void im2col_f32(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, int64_t row0, int64_t rows,
                float* cols) {
  im2col(stream, x, shape, row0, rows, cols);
}

void depthwise_conv2d(cudaStream_t stream, const float* x, int64_t batch, int64_t height, int64_t width,
                      int64_t channels, int64_t kernel, const float* weight, const float* bias, float* y) {
  check(kernel >= 1 && kernel % 2 == 1, "depthwise_conv2d: kernel must be odd, got " + std::to_string(kernel));
  if (batch <= 0 || height <= 0 || width <= 0 || channels <= 0) return;
  const int64_t pixels = batch * height * width;
  if (channels % 4 == 0 && aligned16(x) && aligned16(weight) && aligned16(bias) && aligned16(y)) {
    depthwise_kernel<4><<<warp_blocks_for(pixels), kThreads, 0, stream>>>(x, batch, height, width, channels, kernel,
                                                                         weight, bias, y);
  } else {
    depthwise_kernel<1><<<warp_blocks_for(pixels), kThreads, 0, stream>>>(x, batch, height, width, channels, kernel,
                                                                         weight, bias, y);
  }
  SANA_CUDA_CHECK_LAUNCH();
}

void rms_norm_affine(cudaStream_t stream, const float* x, int64_t rows, int64_t d, const float* weight,
                     const float* bias, float eps, const float* residual, float* y) {
  if (rows <= 0 || d <= 0) return;
  if (d % 4 == 0 && aligned16(x) && aligned16(weight) && aligned16(bias) && aligned16(residual) && aligned16(y)) {
    rms_norm_affine_kernel<4><<<warp_blocks_for(rows), kThreads, 0, stream>>>(x, rows, d, weight, bias, eps,
                                                                             residual, y);
  } else {
    rms_norm_affine_kernel<1><<<warp_blocks_for(rows), kThreads, 0, stream>>>(x, rows, d, weight, bias, eps,
                                                                             residual, y);
  }
  SANA_CUDA_CHECK_LAUNCH();
}

void add_channel_repeat(cudaStream_t stream, const float* x, int64_t batch, int64_t height, int64_t width,
                        int64_t in_channels, int64_t factor, int64_t out_channels, float* y) {
  const int64_t ff = factor * factor;
  check(factor >= 1 && in_channels > 0 && (out_channels * ff) % in_channels == 0,
        "add_channel_repeat: " + std::to_string(out_channels) + " x " + std::to_string(ff) +
            " shuffled channels are not a whole repeat of " + std::to_string(in_channels) + " input channels");
  check(out_channels * ff < (int64_t{1} << 31), "add_channel_repeat: too many shuffled channels");
  if (batch <= 0 || height <= 0 || width <= 0 || out_channels <= 0) return;
  const int64_t pixels = batch * height * factor * width * factor;
  add_channel_repeat_kernel<<<warp_blocks_for(pixels), kThreads, 0, stream>>>(
      x, batch, height, width, in_channels, static_cast<int>(factor), static_cast<int>(out_channels),
      static_cast<int>(out_channels * ff / in_channels), y);
  SANA_CUDA_CHECK_LAUNCH();
}

void add_channel_group_mean(cudaStream_t stream, const float* x, int64_t batch, int64_t height, int64_t width,
                            int64_t in_channels, int64_t factor, int64_t out_channels, float* y) {
  const int64_t ff = factor * factor;
  check(factor >= 1 && height % factor == 0 && width % factor == 0,
        "add_channel_group_mean: " + std::to_string(height) + "x" + std::to_string(width) +
            " is not divisible by the factor " + std::to_string(factor));
  check(out_channels > 0 && (in_channels * ff) % out_channels == 0,
        "add_channel_group_mean: " + std::to_string(in_channels) + " x " + std::to_string(ff) +
            " unshuffled channels do not split into " + std::to_string(out_channels) + " equal groups");
  check(in_channels * ff < (int64_t{1} << 31), "add_channel_group_mean: too many unshuffled channels");
  if (batch <= 0 || height <= 0 || width <= 0 || in_channels <= 0) return;
  const int64_t pixels = batch * (height / factor) * (width / factor);
  add_channel_group_mean_kernel<<<warp_blocks_for(pixels), kThreads, 0, stream>>>(
      x, batch, height, width, in_channels, static_cast<int>(factor), static_cast<int>(out_channels),
      static_cast<int>(in_channels * ff / out_channels), y);
  SANA_CUDA_CHECK_LAUNCH();
}

void relu_group_attention(cudaStream_t stream, const float* qkv, int64_t qkv_stride, int64_t batch, int64_t tokens,
                          int64_t groups, int64_t head_dim, bool quadratic, float* out, int64_t out_stride) {
  check_attention("relu_group_attention", qkv_stride, groups, head_dim, out_stride, !quadratic);
  if (batch <= 0 || tokens <= 0 || groups <= 0 || head_dim <= 0) return;
  if (quadratic) {
    relu_quadratic_attention_kernel<<<grid_for(batch * tokens * groups * head_dim), kThreads, 0, stream>>>(
        qkv, qkv_stride, batch, tokens, groups, head_dim, out, out_stride);
    SANA_CUDA_CHECK_LAUNCH();
    return;
  }
  with_padded_head_dim(head_dim, [&](auto tag) {
    relu_linear_attention_kernel<decltype(tag)::value><<<blocks_for(batch * groups), kThreads, 0, stream>>>(
        qkv, qkv_stride, batch, tokens, groups, static_cast<int>(head_dim), out, out_stride);
    SANA_CUDA_CHECK_LAUNCH();
  });
}

void relu_attention_stats(cudaStream_t stream, const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                          int64_t head_dim, float* stats) {
  check_attention("relu_attention_stats", qkv_stride, groups, head_dim, groups * head_dim, true);
  if (tokens <= 0 || groups <= 0 || head_dim <= 0) return;
  with_padded_head_dim(head_dim, [&](auto tag) {
    relu_attention_stats_kernel<decltype(tag)::value>
        <<<blocks_for(groups * chunks(tokens, kStatsChunk)), kThreads, 0, stream>>>(
            qkv, qkv_stride, tokens, groups, static_cast<int>(head_dim), stats);
    SANA_CUDA_CHECK_LAUNCH();
  });
}

void relu_attention_apply(cudaStream_t stream, const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                          int64_t head_dim, const float* stats, float* out, int64_t out_stride) {
  check_attention("relu_attention_apply", qkv_stride, groups, head_dim, out_stride, true);
  if (tokens <= 0 || groups <= 0 || head_dim <= 0) return;
  with_padded_head_dim(head_dim, [&](auto tag) {
    relu_attention_apply_kernel<decltype(tag)::value>
        <<<blocks_for(groups * chunks(tokens, kApplyChunk)), kThreads, 0, stream>>>(
            qkv, qkv_stride, tokens, groups, static_cast<int>(head_dim), stats, out, out_stride);
    SANA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sana::cuda::kernels
