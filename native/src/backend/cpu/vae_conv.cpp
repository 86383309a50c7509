// DC-AE convolutions on NHWC images: the full conv2d (3x3 and 1x1, strided, grouped, with a
// fused nearest upsample) as im2col + GEMM, and the depthwise kxk conv of the multi-scale
// attention branch. Dense stride-1 3x3 convs go to the Winograd kernel (vae_winograd.cpp).
//
// conv2d gathers the taps of a band of output pixels into a per-thread column buffer and
// multiplies it by the weight with one single-threaded GEMM per group; bands run in
// parallel. Bands keep the column buffer in cache and bound its size however large the
// image is (a 1024x1024x128 activation would need 4.5 GiB of columns at once).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/vae_winograd.h"
#include "core/arena.h"
#include "sana/error.h"

namespace sana::cpu {

namespace {

using simd::kWidth;
using simd::Vec;

// Target size of one band's column buffer, in floats (4 MiB): large enough that the GEMM
// amortises packing the weight, small enough to stay near the core.
constexpr int64_t kColumnFloats = int64_t{1} << 20;

void check_conv(const Backend::Conv2dShape& s) {
  const std::string what = "conv2d " + std::to_string(s.in_channels) + "->" + std::to_string(s.out_channels) +
                           " k" + std::to_string(s.kernel) + " s" + std::to_string(s.stride) + " g" +
                           std::to_string(s.groups) + " up" + std::to_string(s.upsample) + ": ";
  check(s.batch > 0 && s.height > 0 && s.width > 0, what + "empty input");
  check(s.kernel >= 1 && s.kernel % 2 == 1, what + "kernel must be odd");
  check(s.stride >= 1, what + "stride must be >= 1");
  check(s.upsample == 1 || s.upsample == 2, what + "upsample must be 1 or 2");
  check(s.groups >= 1 && s.in_channels % s.groups == 0 && s.out_channels % s.groups == 0,
        what + "groups must divide both channel counts");
  check(s.out_height() > 0 && s.out_width() > 0, what + "output would be empty");
}

// Adds bias to rows [r0, r1) of y (cols floats each), then applies act to the whole block
// at once (rows are contiguous; one call keeps the vector loop long for narrow images).
void finish_rows(float* y, int64_t r0, int64_t r1, int64_t cols, const float* bias, Activation act) {
  if (bias)
    for (int64_t r = r0; r < r1; ++r) {
      float* row = y + r * cols;
      for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
    }
  apply_activation(act, y + r0 * cols, (r1 - r0) * cols);
}

// Copies n floats; an inline loop beats a memcpy call for the few channels of small stages.
inline void copy_floats(float* dst, const float* src, int64_t n) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  }
}

// Fills rows [p0, p1) of the column matrix: row p - p0 holds, for each group, for each tap,
// that group's input channels at the tap's (upsampled) input pixel, or zeros in the padding.
// Walks output rows so the index arithmetic is per row, not per pixel.
void gather_columns(const float* x, const Backend::Conv2dShape& s, int64_t p0, int64_t p1, float* col) {
  const int64_t k = s.kernel, pad = k / 2, stride = s.stride, cin = s.in_channels, groups = s.groups;
  const int64_t cin_g = cin / groups, taps = k * k, kg = taps * cin_g, kcol = taps * cin;
  const int64_t shift = s.upsample == 2 ? 1 : 0;  // check_conv allows upsample 1 or 2
  const int64_t hv = s.height << shift, wv = s.width << shift, ho = s.out_height(), wo = s.out_width();
  for (int64_t p = p0; p < p1;) {
    const int64_t b = p / (ho * wo), oy = (p / wo) % ho, ox0 = p % wo;
    const int64_t n = std::min(wo - ox0, p1 - p);  // pixels of this output row in the band
    float* rows = col + (p - p0) * kcol;
    for (int64_t ky = 0; ky < k; ++ky) {
      const int64_t iy = oy * stride + ky - pad;
      const bool row_inside = iy >= 0 && iy < hv;
      const float* src_row = row_inside ? x + (b * s.height + (iy >> shift)) * s.width * cin : nullptr;
      for (int64_t kx = 0; kx < k; ++kx) {
        const int64_t tap = ky * k + kx;
        for (int64_t i = 0; i < n; ++i) {
          const int64_t ix = (ox0 + i) * stride + kx - pad;
          float* dst = rows + i * kcol + tap * cin_g;
          if (!row_inside || ix < 0 || ix >= wv) {
            for (int64_t g = 0; g < groups; ++g) std::fill(dst + g * kg, dst + g * kg + cin_g, 0.0f);
          } else {
            const float* src = src_row + (ix >> shift) * cin;
            for (int64_t g = 0; g < groups; ++g) copy_floats(dst + g * kg, src + g * cin_g, cin_g);
          }
        }
      }
    }
    p += n;
  }
}

}  // namespace

void CpuBackend::conv2d(const float* x, const Conv2dShape& s, const float* weight, const float* bias, Activation act,
                        float* y) {
  check_conv(s);
  const int64_t k = s.kernel, up = s.upsample, stride = s.stride;
  const int64_t cin = s.in_channels, cout = s.out_channels, groups = s.groups;
  const int64_t cin_g = cin / groups, cout_g = cout / groups;
  const int64_t taps = k * k, kg = taps * cin_g, kcol = taps * cin;
  const int64_t ho = s.out_height(), wo = s.out_width(), pixels = s.batch * ho * wo;

  if (winograd_applies(s)) {
    winograd_conv3x3(pool_, x, s, weight, bias, act, y);
    return;
  }
  if (k == 1 && stride == 1 && up == 1) {
    // A pointwise conv: the input already is its own column matrix.
    for (int64_t g = 0; g < groups; ++g) {
      float* yg = y + g * cout_g;
      const GemmEpilogue epilogue = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        for (int64_t i = i0; i < i1; ++i) {
          float* row = yg + i * cout;
          if (bias)
            for (int64_t j = j0; j < j1; ++j) row[j] += bias[g * cout_g + j];
          apply_activation(act, row + j0, j1 - j0);
        }
      };
      const bool plain = bias == nullptr && act == Activation::None;
      sgemm_ex(Trans::No, Trans::Yes, pixels, cout_g, cin_g, 1.0f, x + g * cin_g, cin, weight + g * cout_g * cin_g,
               cin_g, 0.0f, yg, cout, plain ? nullptr : &epilogue);
    }
    return;
  }

  const int64_t threads = static_cast<int64_t>(pool_.size());
  int64_t band = std::clamp<int64_t>(kColumnFloats / kcol, 16, 4096);
  band = std::max<int64_t>(1, std::min(band, (pixels + threads - 1) / threads));
  const int64_t bands = (pixels + band - 1) / band;
  pool_.parallel_for(0, bands, 1, [&](int64_t lo, int64_t hi) {
    thread_local AlignedFloats column_buf;
    column_buf.ensure(static_cast<size_t>(band * kcol));
    float* col = column_buf.data();
    for (int64_t bi = lo; bi < hi; ++bi) {
      const int64_t p0 = bi * band, p1 = std::min(pixels, p0 + band);
      gather_columns(x, s, p0, p1, col);
      // Nested in a pool task, each GEMM runs on this thread alone.
      for (int64_t g = 0; g < groups; ++g)
        sgemm_ex(Trans::No, Trans::Yes, p1 - p0, cout_g, kg, 1.0f, col + g * kg, kcol, weight + g * cout_g * kg, kg,
                 0.0f, y + p0 * cout + g * cout_g, cout, nullptr);
      finish_rows(y, p0, p1, cout, bias, act);
    }
  });
}

void CpuBackend::depthwise_conv2d(const float* x, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                  int64_t kernel, const float* weight, const float* bias, float* y) {
  check(kernel >= 1 && kernel % 2 == 1, "depthwise_conv2d: kernel must be odd, got " + std::to_string(kernel));
  const int64_t pad = kernel / 2;
  const int64_t vec_end = channels / kWidth * kWidth;
  pool_.parallel_for(0, batch * height, 1, [&](int64_t lo, int64_t hi) {
    thread_local std::vector<const float*> src;
    thread_local std::vector<const float*> wts;
    src.resize(static_cast<size_t>(kernel * kernel));
    wts.resize(static_cast<size_t>(kernel * kernel));
    for (int64_t by = lo; by < hi; ++by) {
      const int64_t b = by / height, yy = by % height;
      for (int64_t xx = 0; xx < width; ++xx) {
        // Taps inside the image; zero padding contributes nothing, so the rest are skipped.
        int64_t n = 0;
        for (int64_t ky = 0; ky < kernel; ++ky) {
          const int64_t sy = yy + ky - pad;
          if (sy < 0 || sy >= height) continue;
          for (int64_t kx = 0; kx < kernel; ++kx) {
            const int64_t sx = xx + kx - pad;
            if (sx < 0 || sx >= width) continue;
            src[n] = x + ((b * height + sy) * width + sx) * channels;
            wts[n++] = weight + (ky * kernel + kx) * channels;
          }
        }
        float* o = y + ((b * height + yy) * width + xx) * channels;
        for (int64_t c = 0; c < vec_end; c += kWidth) {
          Vec acc = bias ? simd::load(bias + c) : Vec{};
          for (int64_t t = 0; t < n; ++t) acc += simd::load(wts[t] + c) * simd::load(src[t] + c);
          simd::store(o + c, acc);
        }
        for (int64_t c = vec_end; c < channels; ++c) {
          float acc = bias ? bias[c] : 0.0f;
          for (int64_t t = 0; t < n; ++t) acc += wts[t][c] * src[t][c];
          o[c] = acc;
        }
      }
    }
  });
}

}  // namespace sana::cpu
