// The DiT's elementwise ops, row norms, layout changes and GLUMBConv middle: the CUDA side of
// cpu/cpu_backend.cpp, cpu/layout.cpp and cpu/conv.cpp, computing the same values in the same
// order where the order changes the rounding.
#include <algorithm>
#include <climits>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"

namespace sana::cuda::kernels {

namespace {

__device__ __forceinline__ int64_t first_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }

__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// i / divisor and i % divisor followed along a grid-stride loop: a 64-bit division per
// element costs more than the memory traffic of these kernels, so it is done once per thread.
struct StridedDivMod {
  int64_t quot, rem, step_quot, step_rem, divisor;

  __device__ StridedDivMod(int64_t i, int64_t step, int64_t d)
      : quot(i / d), rem(i % d), step_quot(step / d), step_rem(step % d), divisor(d) {}

  __device__ void advance() {
    quot += step_quot;
    rem += step_rem;  // both terms are below divisor, so one wrap is enough
    if (rem >= divisor) {
      rem -= divisor;
      ++quot;
    }
  }
};

// ---- elementwise --------------------------------------------------------------------------

__global__ void add_table_kernel(const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows,
                                 int64_t batch, float* out) {
  const int64_t n = batch * rows * d;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t br = i / d, col = i - br * d;  // a few thousand elements: plain division is fine
    const int64_t b = br / rows, r = br - b * rows;
    out[i] = table[r * d + col] + t[(b * t_rows + (t_rows == 1 ? 0 : r)) * d + col];
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) x[i] += y[i];
}

__global__ void add_bias_kernel(float* x, int64_t rows, int64_t cols, const float* bias) {
  const int64_t n = rows * cols, step = grid_stride();
  int64_t i = first_index();
  for (StridedDivMod rc(i, step, cols); i < n; i += step, rc.advance()) x[i] += bias[rc.rem];
}

// The activation is a template argument so the per-element switch folds away.
template <Activation kAct>
__global__ void activate_kernel(float* x, int64_t rows, int64_t cols, int64_t stride) {
  const int64_t n = rows * cols, step = grid_stride();
  int64_t i = first_index();
  for (StridedDivMod rc(i, step, cols); i < n; i += step, rc.advance()) {
    float* v = x + rc.quot * stride + rc.rem;
    *v = cuda::activate(kAct, *v);  // qualified: kernels::activate is the launcher
  }
}

template <Activation kAct>
void launch_activate(cudaStream_t stream, float* x, int64_t rows, int64_t cols, int64_t stride) {
  activate_kernel<kAct><<<grid_for(rows * cols), kThreads, 0, stream>>>(x, rows, cols, stride);
  SANA_CUDA_CHECK_LAUNCH();
}

__global__ void gated_add_kernel(float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch,
                                 int64_t tokens, int64_t d) {
  const int64_t n = batch * tokens * d, step = grid_stride();
  int64_t i = first_index();
  StridedDivMod col(i, step, d), item(i, step, tokens * d);
  for (; i < n; i += step, col.advance(), item.advance()) x[i] += gate[item.quot * mod_stride + col.rem] * y[i];
}

// ---- row norms ----------------------------------------------------------------------------
// One block per row. Each thread reads all of its values of the row before the block-wide
// reduction and writes only those same indices after it, so y may alias x (the in-place
// q/k norms of sana_dit.cpp) without a thread overwriting a value another still has to read.

// About 8 values per thread: wide rows (up to 4480) keep every lane busy, narrow ones (8 in
// the tiny test models) use a single warp.
int row_threads(int64_t d) {
  const int64_t want = ((d + 7) / 8 + 31) / 32 * 32;
  return static_cast<int>(std::clamp<int64_t>(want, 32, 512));
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(std::min<int64_t>(rows, INT_MAX)); }

// Two passes (mean, then squared deviations about it) instead of E[x^2] - E[x]^2, whose
// cancellation in float would lose the variance of rows with a large mean; the CPU gets the
// same effect from double accumulation (cpu_backend.cpp, moments()).
__global__ void layer_norm_modulate_kernel(const float* x, int64_t rows, int64_t tokens, int64_t d, float eps,
                                           const float* shift, const float* scale, int64_t mod_stride, float* y) {
  __shared__ float shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * d;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) sum += xr[i];
    const float mean = block_sum(sum, shared) / static_cast<float>(d);
    float dev = 0.0f;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      const float v = xr[i] - mean;
      dev = fmaf(v, v, dev);
    }
    const float var = block_sum(dev, shared) / static_cast<float>(d);
    const float rstd = 1.0f / sqrtf(var + eps);
    const int64_t b = r / tokens;
    const float* sh = shift + b * mod_stride;
    const float* sc = scale + b * mod_stride;
    float* yr = y + r * d;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = (xr[i] - mean) * rstd * (1.0f + sc[i]) + sh[i];
  }
}

// A sum of squares has no cancellation, so float accumulation over ~d / blockDim values per
// thread plus the tree reduction stays within a few ulp of the CPU's double sum.
__global__ void rms_norm_kernel(const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight,
                                float eps, float* y, int64_t y_stride) {
  __shared__ float shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * x_stride;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    const float inv = 1.0f / sqrtf(block_sum(ss, shared) / static_cast<float>(d) + eps);
    float* yr = y + r * y_stride;
    if (weight != nullptr) {
      for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = xr[i] * inv * weight[i];
    } else {
      for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = xr[i] * inv;
    }
  }
}

// ---- layout -------------------------------------------------------------------------------
// One thread per output element (coalesced writes); these run once per pass, so the index
// divisions are not worth avoiding.

__global__ void patchify_kernel(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width,
                                int64_t p, float* tokens) {
  const int64_t h = height / p, w = width / p, pp = p * p, cpp = channels * pp;
  const int64_t n = batch * h * w * cpp;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t token = i / cpp, k = i - token * cpp;
    const int64_t c = k / pp, dy = (k - c * pp) / p, dx = k % p;
    const int64_t b = token / (h * w), pixel = token - b * (h * w);
    const int64_t ty = pixel / w, tx = pixel - ty * w;
    tokens[i] = x[((b * channels + c) * height + ty * p + dy) * width + tx * p + dx];
  }
}

__global__ void unpatchify_kernel(const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p,
                                  int64_t channels, float* x) {
  const int64_t height = h * p, width = w * p, cpp = channels * p * p;
  const int64_t n = batch * channels * height * width;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t bc = i / (height * width), rem = i - bc * (height * width);
    const int64_t yy = rem / width, xx = rem - yy * width;
    const int64_t b = bc / channels, c = bc - b * channels;
    const int64_t ty = yy / p, dy = yy - ty * p, tx = xx / p, dx = xx - tx * p;
    x[i] = tokens[((b * h + ty) * w + tx) * cpp + (dy * p + dx) * channels + c];
  }
}

// ---- GLUMBConv middle -----------------------------------------------------------------------
// A thread owns one value channel c (and its gate channel half + c) and walks a row tile of
// kConvTile pixels with a sliding 3x3 window in registers, so each input value is loaded
// about 3 times instead of 9; threads of a warp take consecutive channels, so every load and
// store is coalesced.
constexpr int kConvTile = 16;

// The three rows (y - 1, y, y + 1) of one input column, zero outside the image: the padding.
struct Column {
  float a[3], g[3];
};

__device__ __forceinline__ Column load_column(const float* xc, int64_t h, int64_t w, int64_t y, int64_t sx,
                                              int64_t channels, int64_t half) {
  Column col;
#pragma unroll
  for (int k = 0; k < 3; ++k) {
    const int64_t sy = y + k - 1;
    col.a[k] = 0.0f;
    col.g[k] = 0.0f;
    if (sx >= 0 && sx < w && sy >= 0 && sy < h) {
      const float* px = xc + (sy * w + sx) * channels;
      col.a[k] = px[0];
      col.g[k] = px[half];
    }
  }
  return col;
}

// xc: the batch item's input at channel c; win[kx] holds column x + kx - 1.
__device__ __forceinline__ void conv_tile(const float* xc, int64_t h, int64_t w, int64_t y, int64_t x0,
                                          int64_t channels, int64_t half, const float (&wa)[9], const float (&wg)[9],
                                          float ba, float bg, float* oc) {
  Column win[3];
  win[0] = load_column(xc, h, w, y, x0 - 1, channels, half);
  win[1] = load_column(xc, h, w, y, x0, channels, half);
  const int64_t x1 = x0 + kConvTile < w ? x0 + kConvTile : w;
  for (int64_t xx = x0; xx < x1; ++xx) {
    win[2] = load_column(xc, h, w, y, xx + 1, channels, half);
    // Bias first, then the taps ky-major like conv.cpp; a padding tap adds w * 0, which
    // leaves the sum unchanged just as the CPU's skipping it does.
    float a = ba, g = bg;
#pragma unroll
    for (int ky = 0; ky < 3; ++ky)
#pragma unroll
      for (int kx = 0; kx < 3; ++kx) {
        a = fmaf(wa[ky * 3 + kx], win[kx].a[ky], a);
        g = fmaf(wg[ky * 3 + kx], win[kx].g[ky], g);
      }
    oc[xx * half] = a * silu(g);
    win[0] = win[1];
    win[1] = win[2];
  }
}

__global__ void dwconv3x3_glu_kernel(const float* x, int64_t batch, int64_t h, int64_t w, int64_t half,
                                     const float* weight, const float* bias, float* out) {
  const int64_t c = first_index();
  if (c >= half) return;  // no block-wide synchronisation below, so idle lanes may leave
  const int64_t channels = 2 * half;
  float wa[9], wg[9];
#pragma unroll
  for (int t = 0; t < 9; ++t) {
    wa[t] = weight[t * channels + c];
    wg[t] = weight[t * channels + half + c];
  }
  const float ba = bias != nullptr ? bias[c] : 0.0f, bg = bias != nullptr ? bias[half + c] : 0.0f;
  const int64_t tiles_x = (w + kConvTile - 1) / kConvTile, tiles = batch * h * tiles_x;
  for (int64_t t = blockIdx.y; t < tiles; t += gridDim.y) {
    const int64_t by = t / tiles_x, x0 = (t - by * tiles_x) * kConvTile;
    const int64_t b = by / h, y = by - b * h;
    conv_tile(x + b * h * w * channels + c, h, w, y, x0, channels, half, wa, wg, ba, bg, out + by * w * half + c);
  }
}

}  // namespace

void add_table(cudaStream_t stream, const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows,
               int64_t batch, float* out) {
  if (batch <= 0 || rows <= 0 || d <= 0) return;
  add_table_kernel<<<grid_for(batch * rows * d), kThreads, 0, stream>>>(table, rows, d, t, t_rows, batch, out);
  SANA_CUDA_CHECK_LAUNCH();
}

void add(cudaStream_t stream, float* x, const float* y, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
  SANA_CUDA_CHECK_LAUNCH();
}

void add_bias(cudaStream_t stream, float* x, int64_t rows, int64_t cols, const float* bias) {
  if (rows <= 0 || cols <= 0) return;
  add_bias_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(x, rows, cols, bias);
  SANA_CUDA_CHECK_LAUNCH();
}

void activate(cudaStream_t stream, Activation act, float* x, int64_t rows, int64_t cols, int64_t stride) {
  if (rows <= 0 || cols <= 0) return;
  switch (act) {
    case Activation::SiLU:
      return launch_activate<Activation::SiLU>(stream, x, rows, cols, stride);
    case Activation::GeluTanh:
      return launch_activate<Activation::GeluTanh>(stream, x, rows, cols, stride);
    case Activation::ReLU:
      return launch_activate<Activation::ReLU>(stream, x, rows, cols, stride);
    case Activation::None:
      return;  // the identity: nothing to write, as in cpu apply_activation()
  }
}

void layer_norm_modulate(cudaStream_t stream, const float* x, int64_t batch, int64_t tokens, int64_t d, float eps,
                         const float* shift, const float* scale, int64_t mod_stride, float* y) {
  const int64_t rows = batch * tokens;
  if (rows <= 0 || d <= 0) return;
  layer_norm_modulate_kernel<<<row_blocks(rows), row_threads(d), 0, stream>>>(x, rows, tokens, d, eps, shift, scale,
                                                                              mod_stride, y);
  SANA_CUDA_CHECK_LAUNCH();
}

void rms_norm(cudaStream_t stream, const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight,
              float eps, float* y, int64_t y_stride) {
  if (rows <= 0 || d <= 0) return;
  rms_norm_kernel<<<row_blocks(rows), row_threads(d), 0, stream>>>(x, rows, d, x_stride, weight, eps, y, y_stride);
  SANA_CUDA_CHECK_LAUNCH();
}

void gated_add(cudaStream_t stream, float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch,
               int64_t tokens, int64_t d) {
  if (batch <= 0 || tokens <= 0 || d <= 0) return;
  gated_add_kernel<<<grid_for(batch * tokens * d), kThreads, 0, stream>>>(x, y, gate, mod_stride, batch, tokens, d);
  SANA_CUDA_CHECK_LAUNCH();
}

void patchify(cudaStream_t stream, const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width,
              int64_t p, float* tokens) {
  if (p <= 0) return;
  const int64_t n = batch * (height / p) * (width / p) * channels * p * p;
  if (n <= 0) return;
  patchify_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, batch, channels, height, width, p, tokens);
  SANA_CUDA_CHECK_LAUNCH();
}

void unpatchify(cudaStream_t stream, const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p,
                int64_t channels, float* x) {
  const int64_t n = batch * channels * h * p * w * p;
  if (batch <= 0 || channels <= 0 || h <= 0 || w <= 0 || p <= 0 || n <= 0) return;
  unpatchify_kernel<<<grid_for(n), kThreads, 0, stream>>>(tokens, batch, h, w, p, channels, x);
  SANA_CUDA_CHECK_LAUNCH();
}

void dwconv3x3_glu(cudaStream_t stream, const float* x, int64_t batch, int64_t h, int64_t w, int64_t half,
                   const float* weight, const float* bias, float* out) {
  if (batch <= 0 || h <= 0 || w <= 0 || half <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(kThreads, (half + 31) / 32 * 32));
  const int64_t tiles = batch * h * ((w + kConvTile - 1) / kConvTile);
  const dim3 grid(static_cast<unsigned>((half + threads - 1) / threads),
                  static_cast<unsigned>(std::min<int64_t>(tiles, 65535)));
  dwconv3x3_glu_kernel<<<grid, threads, 0, stream>>>(x, batch, h, w, half, weight, bias, out);
  SANA_CUDA_CHECK_LAUNCH();
}

}  // namespace sana::cuda::kernels
