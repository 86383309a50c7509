// Winograd F(m x m, 3x3) (Lavin & Gray 2015) on NHWC images, m = 4 by default (m = 2 on
// request). For each m x m output tile the (m+2)^2 input patch d becomes V = B^T d B, the
// kernel g becomes U = G g G^T, and the tile is A^T (U . V) A; summed over input channels,
// the (m+2)^2 elementwise products are as many GEMMs (tiles x in) x (in x out). F(4x4)
// needs 36 multiplies per 16 outputs where the direct conv needs 144 (4x fewer; F(2x2):
// 2.25x). Tiles are processed in bands (one per pool task, each GEMM on that thread alone),
// so a band's transformed inputs and products stay a few MiB however large the image; the
// kernel transform is done once per call.
#include "backend/cpu/vae_winograd.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/simd.h"
#include "core/arena.h"
#include "sana/error.h"

namespace sana::cpu {

namespace {

using simd::kWidth;
using simd::Vec;

// Floats of one band's transformed input and products (16 MiB): big enough for GEMMs of a
// few hundred rows, small enough to stay near the core.
constexpr int64_t kBandFloats = int64_t{1} << 22;

enum class ConvAlgo : uint8_t { Winograd4, Winograd2, Im2col };

ConvAlgo conv_algo() {
  static const ConvAlgo algo = [] {
    const char* env = std::getenv("SANA_VAE_CONV");
    const std::string v = env ? env : "";
    if (v.empty() || v == "winograd4") return ConvAlgo::Winograd4;
    if (v == "winograd2") return ConvAlgo::Winograd2;
    check(v == "im2col", "SANA_VAE_CONV must be \"winograd4\", \"winograd2\" or \"im2col\", got \"" + v + "\"");
    return ConvAlgo::Im2col;
  }();
  return algo;
}

template <typename T>
T load_as(const float* p) {
  if constexpr (std::is_same_v<T, float>) {
    return *p;
  } else {
    return simd::load(p);
  }
}

template <typename T>
void store_as(float* p, T v) {
  if constexpr (std::is_same_v<T, float>) {
    *p = v;
  } else {
    simd::store(p, v);
  }
}

// The 1-D transforms of F(M, 3), N = M + 2 points: kernel (G g), input (B^T d), output
// (A^T m). F(2, 3) interpolates at 0, +-1; F(4, 3) at 0, +-1, +-2 (and infinity for both).
template <int M>
struct Transform;

template <>
struct Transform<2> {
  static constexpr int N = 4;
  template <typename T>
  static void kernel(const T* g, T* u) {
    const T half = T{} + 0.5f;
    u[0] = g[0];
    u[1] = half * (g[0] + g[1] + g[2]);
    u[2] = half * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  }
  template <typename T>
  static void input(const T* d, T* r) {
    r[0] = d[0] - d[2];
    r[1] = d[1] + d[2];
    r[2] = d[2] - d[1];
    r[3] = d[1] - d[3];
  }
  template <typename T>
  static void output(const T* m, T* y) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
};

template <>
struct Transform<4> {
  static constexpr int N = 6;
  template <typename T>
  static void kernel(const T* g, T* u) {
    const T quarter = T{} + 0.25f, sixth = T{} + (1.0f / 6.0f), twelfth = T{} + (1.0f / 12.0f);
    const T twentyfourth = T{} + (1.0f / 24.0f);
    u[0] = quarter * g[0];
    u[1] = -sixth * (g[0] + g[1] + g[2]);
    u[2] = -sixth * (g[0] - g[1] + g[2]);
    u[3] = twentyfourth * g[0] + twelfth * g[1] + sixth * g[2];
    u[4] = twentyfourth * g[0] - twelfth * g[1] + sixth * g[2];
    u[5] = g[2];
  }
  template <typename T>
  static void input(const T* d, T* r) {
    const T four = T{} + 4.0f, five = T{} + 5.0f, two = T{} + 2.0f;
    r[0] = four * d[0] - five * d[2] + d[4];
    r[1] = d[3] + d[4] - four * (d[1] + d[2]);
    r[2] = d[4] - d[3] + four * (d[1] - d[2]);
    r[3] = d[4] - d[2] + two * (d[3] - d[1]);
    r[4] = d[4] - d[2] + two * (d[1] - d[3]);
    r[5] = four * d[1] - five * d[3] + d[5];
  }
  template <typename T>
  static void output(const T* m, T* y) {
    const T two = T{} + 2.0f, four = T{} + 4.0f, eight = T{} + 8.0f;
    const T a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = b + two * d;
    y[2] = a + four * c;
    y[3] = b + eight * d + m[5];
  }
};

// U[xi][co][ci] = (G g G^T)[xi] for the kernels of (co, ci .. ci + width of T); weight rows
// (co, ky, kx, ci), so a vector of input channels is contiguous in both layouts.
template <int M, typename T>
inline void kernel_tile(const float* g, int64_t cin, int64_t ci, float* u, int64_t plane) {
  constexpr int N = Transform<M>::N;
  T cols[3][N];  // G applied down each kernel column
  for (int kx = 0; kx < 3; ++kx) {
    const T col[3] = {load_as<T>(g + kx * cin + ci), load_as<T>(g + (3 + kx) * cin + ci),
                      load_as<T>(g + (6 + kx) * cin + ci)};
    Transform<M>::kernel(col, cols[kx]);
  }
  for (int i = 0; i < N; ++i) {
    const T row[3] = {cols[0][i], cols[1][i], cols[2][i]};
    T out[N];
    Transform<M>::kernel(row, out);
    for (int j = 0; j < N; ++j) store_as<T>(u + (i * N + j) * plane + ci, out[j]);
  }
}

template <int M>
void transform_weights(ThreadPool& pool, const float* w, int64_t cout, int64_t cin, float* u) {
  const int64_t plane = cout * cin;
  pool.parallel_for(0, cout, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t co = lo; co < hi; ++co) {
      const float* g = w + co * 9 * cin;
      float* uc = u + co * cin;
      int64_t ci = 0;
      for (; ci + kWidth <= cin; ci += kWidth) kernel_tile<M, Vec>(g, cin, ci, uc, plane);
      for (; ci < cin; ++ci) kernel_tile<M, float>(g, cin, ci, uc, plane);
    }
  });
}

// One tile's V for channels [c, c + width of T): B^T d B, written to the N^2 planes at out.
template <int M, typename T>
inline void input_tile(const float* const* src, int64_t c, float* out, int64_t plane) {
  constexpr int N = Transform<M>::N;
  T r[N][N];  // r[i][j]: B^T applied down column j
  for (int j = 0; j < N; ++j) {
    T d[N];
    for (int i = 0; i < N; ++i) d[i] = load_as<T>(src[i * N + j] + c);
    T col[N];
    Transform<M>::input(d, col);
    for (int i = 0; i < N; ++i) r[i][j] = col[i];
  }
  for (int i = 0; i < N; ++i) {
    T row[N];
    Transform<M>::input(r[i], row);
    for (int j = 0; j < N; ++j) store_as<T>(out + (i * N + j) * plane + c, row[j]);
  }
}

// One tile's M x M outputs (+ bias) for channels [co, co + width of T) from the N^2 planes.
template <int M, typename T>
inline void output_tile(const float* in, int64_t co, int64_t plane, const float* bias, float* const* dst) {
  constexpr int N = Transform<M>::N;
  T r[M][N];  // A^T applied down column j
  for (int j = 0; j < N; ++j) {
    T m[N];
    for (int i = 0; i < N; ++i) m[i] = load_as<T>(in + (i * N + j) * plane + co);
    T col[M];
    Transform<M>::output(m, col);
    for (int a = 0; a < M; ++a) r[a][j] = col[a];
  }
  const T bv = bias ? load_as<T>(bias + co) : T{};
  for (int a = 0; a < M; ++a) {
    T row[M];
    Transform<M>::output(r[a], row);
    for (int b = 0; b < M; ++b) store_as<T>(dst[a * M + b] + co, row[b] + bv);
  }
}

struct Tiling {
  int64_t vh, vw;         // the (virtually upsampled) input grid = the output grid
  int64_t th, tw, shift;  // tiles per column / row; log2 of the upsample factor
};

// V for tiles [t0, t1). Padding, and the far edge where M does not divide the size, read a
// zero vector.
template <int M>
void transform_input(const float* x, const Backend::Conv2dShape& s, const Tiling& g, int64_t t0, int64_t t1,
                     const float* zeros, float* v) {
  constexpr int N = Transform<M>::N;
  const int64_t cin = s.in_channels, plane = (t1 - t0) * cin;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t b = t / (g.th * g.tw), ty = (t / g.tw) % g.th, tx = t % g.tw;
    const float* src[N * N];
    for (int i = 0; i < N; ++i) {
      const int64_t vy = M * ty - 1 + i;
      for (int j = 0; j < N; ++j) {
        const int64_t vx = M * tx - 1 + j;
        const bool inside = vy >= 0 && vy < g.vh && vx >= 0 && vx < g.vw;
        src[i * N + j] = inside ? x + ((b * s.height + (vy >> g.shift)) * s.width + (vx >> g.shift)) * cin : zeros;
      }
    }
    float* out = v + (t - t0) * cin;
    int64_t c = 0;
    for (; c + kWidth <= cin; c += kWidth) input_tile<M, Vec>(src, c, out, plane);
    for (; c < cin; ++c) input_tile<M, float>(src, c, out, plane);
  }
}

// The outputs of tiles [t0, t1) (+ bias, then act). Pixels past the far edge go to a sink.
template <int M>
void transform_output(const float* m, const Backend::Conv2dShape& s, const Tiling& g, int64_t t0, int64_t t1,
                      const float* bias, Activation act, float* sink, float* y) {
  const int64_t cout = s.out_channels, plane = (t1 - t0) * cout;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t b = t / (g.th * g.tw), ty = (t / g.tw) % g.th, tx = t % g.tw;
    float* dst[M * M];
    bool inside[M * M];
    for (int a = 0; a < M; ++a)
      for (int c = 0; c < M; ++c) {
        const int64_t oy = M * ty + a, ox = M * tx + c;
        inside[a * M + c] = oy < g.vh && ox < g.vw;
        dst[a * M + c] = inside[a * M + c] ? y + ((b * g.vh + oy) * g.vw + ox) * cout : sink;
      }
    const float* in = m + (t - t0) * cout;
    int64_t co = 0;
    for (; co + kWidth <= cout; co += kWidth) output_tile<M, Vec>(in, co, plane, bias, dst);
    for (; co < cout; ++co) output_tile<M, float>(in, co, plane, bias, dst);
    if (act != Activation::None)
      for (int k = 0; k < M * M; ++k)
        if (inside[k]) apply_activation(act, dst[k], cout);
  }
}

template <int M>
void winograd(ThreadPool& pool, const float* x, const Backend::Conv2dShape& s, const float* weight, const float* bias,
              Activation act, float* y) {
  constexpr int N = Transform<M>::N;
  const int64_t cin = s.in_channels, cout = s.out_channels;
  Tiling g;
  g.shift = s.upsample == 2 ? 1 : 0;
  g.vh = s.height << g.shift;
  g.vw = s.width << g.shift;
  g.th = (g.vh + M - 1) / M;
  g.tw = (g.vw + M - 1) / M;
  const int64_t tiles = s.batch * g.th * g.tw;

  // The caller's thread owns the kernel transform (the pool threads only read it).
  thread_local AlignedFloats u_buf;
  u_buf.ensure(static_cast<size_t>(N * N * cout * cin));
  float* u = u_buf.data();
  transform_weights<M>(pool, weight, cout, cin, u);

  const int64_t threads = static_cast<int64_t>(pool.size());
  int64_t band = std::clamp<int64_t>(kBandFloats / (N * N * (cin + cout)), 128, 2048);
  band = std::max<int64_t>(1, std::min(band, (tiles + threads - 1) / threads));
  const int64_t bands = (tiles + band - 1) / band;
  pool.parallel_for(0, bands, 1, [&](int64_t lo, int64_t hi) {
    thread_local AlignedFloats v_buf, m_buf, zero_buf, sink_buf;
    v_buf.ensure(static_cast<size_t>(N * N * band * cin));
    m_buf.ensure(static_cast<size_t>(N * N * band * cout));
    zero_buf.ensure(static_cast<size_t>(cin));
    sink_buf.ensure(static_cast<size_t>(cout));
    std::fill(zero_buf.data(), zero_buf.data() + cin, 0.0f);
    float* v = v_buf.data();
    float* m = m_buf.data();
    for (int64_t bi = lo; bi < hi; ++bi) {
      const int64_t t0 = bi * band, t1 = std::min(tiles, t0 + band), count = t1 - t0;
      transform_input<M>(x, s, g, t0, t1, zero_buf.data(), v);
      // Nested in a pool task, each GEMM runs on this thread alone.
      for (int64_t xi = 0; xi < N * N; ++xi)
        sgemm_ex(Trans::No, Trans::Yes, count, cout, cin, 1.0f, v + xi * count * cin, cin, u + xi * cout * cin, cin,
                 0.0f, m + xi * count * cout, cout, nullptr);
      transform_output<M>(m, s, g, t0, t1, bias, act, sink_buf.data(), y);
    }
  });
}

}  // namespace

bool winograd_applies(const Backend::Conv2dShape& s) {
  // conv_out (3 outputs) would run 36 GEMMs 3 columns wide: im2col's one GEMM does better.
  return s.kernel == 3 && s.stride == 1 && s.groups == 1 && s.out_channels >= 4 && conv_algo() != ConvAlgo::Im2col;
}

void winograd_conv3x3(ThreadPool& pool, const float* x, const Backend::Conv2dShape& s, const float* weight,
                      const float* bias, Activation act, float* y) {
  if (conv_algo() == ConvAlgo::Winograd2)
    winograd<2>(pool, x, s, weight, bias, act, y);
  else
    winograd<4>(pool, x, s, weight, bias, act, y);
}

}  // namespace sana::cpu
