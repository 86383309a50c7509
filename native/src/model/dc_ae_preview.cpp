#include "model/dc_ae_preview.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "sana/error.h"

namespace sana::dcae {

namespace {

// Fit and test sets: a few small latents, enough samples (latent pixels) for C + 1 unknowns
// per colour, small enough that a real-size decoder fits in seconds.
constexpr int64_t kFitLatents = 4, kTestLatents = 2, kSide = 8;

// Random latents in the decoder's raw space, shaped like diffusion latents: unit variance
// once multiplied by scaling_factor, half white noise and half noise at half resolution
// (real latents are spatially correlated; pure white noise would under-sample smooth areas).
std::vector<float> random_latents(int64_t count, int64_t channels, double scaling_factor, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const int64_t coarse = kSide / 2;
  std::vector<float> out(static_cast<size_t>(count * channels * kSide * kSide));
  std::vector<float> low(static_cast<size_t>(coarse * coarse));
  const float mix = 1.0f / std::sqrt(2.0f), unscale = static_cast<float>(1.0 / scaling_factor);
  for (int64_t plane = 0; plane < count * channels; ++plane) {
    for (float& v : low) v = normal(rng);
    float* p = out.data() + plane * kSide * kSide;
    for (int64_t y = 0; y < kSide; ++y)
      for (int64_t x = 0; x < kSide; ++x)
        p[y * kSide + x] = (normal(rng) + low[(y / 2) * coarse + x / 2]) * mix * unscale;
  }
  return out;
}

// Mean of each f x f block of an NHWC image (batch, h * f, w * f, 3), as (batch * h * w, 3),
// optionally after the pipeline's clamp(x / 2 + 0.5, 0, 1).
std::vector<double> block_means(const Tensor& image, int64_t f, bool unit) {
  const int64_t b = image.dim(0), hh = image.dim(1), ww = image.dim(2), h = hh / f, w = ww / f;
  std::vector<double> out(static_cast<size_t>(b * h * w * 3), 0.0);
  const float* src = image.data();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t y = 0; y < hh; ++y)
      for (int64_t x = 0; x < ww; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          double v = src[((i * hh + y) * ww + x) * 3 + c];
          if (unit) v = std::clamp(v * 0.5 + 0.5, 0.0, 1.0);
          out[static_cast<size_t>(((i * h + y / f) * w + x / f) * 3 + c)] += v;
        }
  for (double& v : out) v /= static_cast<double>(f * f);
  return out;
}

// Solves the symmetric positive definite system a x = b (n x n, 3 right-hand sides) by
// Cholesky, in place.
void solve_spd(std::vector<double>& a, std::vector<double>& b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    check(d > 0.0, "vae preview: the least-squares system is singular");
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / l;
    }
  }
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < n; ++i) {  // L y = b
      double s = b[i * 3 + c];
      for (int64_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k * 3 + c];
      b[i * 3 + c] = s / a[i * n + i];
    }
    for (int64_t i = n; i-- > 0;) {  // L^T x = y
      double s = b[i * 3 + c];
      for (int64_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k * 3 + c];
      b[i * 3 + c] = s / a[i * n + i];
    }
  }
}

// Raw preview RGB of latent pixel (b, y, x).
void predict(const PreviewMap& m, const float* latent, int64_t b, int64_t plane, int64_t p, double rgb[3]) {
  const int64_t c = m.channels;
  for (int64_t k = 0; k < 3; ++k) rgb[k] = m.coefficients[static_cast<size_t>(c * 3 + k)];
  for (int64_t ch = 0; ch < c; ++ch) {
    const double v = latent[(b * c + ch) * plane + p];
    for (int64_t k = 0; k < 3; ++k) rgb[k] += v * m.coefficients[static_cast<size_t>(ch * 3 + k)];
  }
}

}  // namespace

PreviewMap fit_preview(DcAutoencoder& vae) {
  const DcAeConfig& cfg = vae.config();
  check(cfg.in_channels == 3, "vae preview: needs an RGB autoencoder (in_channels 3), this one has " +
                                  std::to_string(cfg.in_channels));
  const int64_t c = cfg.latent_channels, f = cfg.spatial_compression(), n = c + 1, plane = kSide * kSide;
  DcAeDecodeOptions whole;
  whole.tiling = DcAeDecodeOptions::Tiling::Off;

  PreviewMap map;
  map.channels = c;
  const std::vector<float> fit = random_latents(kFitLatents, c, cfg.scaling_factor, 1234);
  const Tensor fit_image = vae.decode_image(fit.data(), kFitLatents, kSide, kSide, whole);
  const std::vector<double> target = block_means(fit_image, f, false);
  // Normal equations over every latent pixel: features [z, 1], targets the block's mean RGB.
  std::vector<double> ata(static_cast<size_t>(n * n), 0.0), atb(static_cast<size_t>(n * 3), 0.0);
  std::vector<double> feat(static_cast<size_t>(n));
  for (int64_t b = 0; b < kFitLatents; ++b)
    for (int64_t p = 0; p < plane; ++p) {
      for (int64_t ch = 0; ch < c; ++ch) feat[ch] = fit[(b * c + ch) * plane + p];
      feat[c] = 1.0;
      const double* y = target.data() + (b * plane + p) * 3;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) ata[i * n + j] += feat[i] * feat[j];
        for (int64_t k = 0; k < 3; ++k) atb[i * 3 + k] += feat[i] * y[k];
      }
    }
  // A whisper of ridge keeps the system solvable when a channel is (nearly) constant.
  double trace = 0.0;
  for (int64_t i = 0; i < n; ++i) trace += ata[i * n + i];
  for (int64_t i = 0; i < n; ++i) ata[i * n + i] += 1e-9 * trace / static_cast<double>(n);
  solve_spd(ata, atb, n);
  map.coefficients = atb;

  // Scores in the pipeline's [0, 1] space, against each block's mean clamped colour.
  double flat[3] = {0.0, 0.0, 0.0};
  for (size_t i = 0; i < target.size(); ++i) flat[i % 3] += target[i] / static_cast<double>(target.size() / 3);
  const auto score = [&](const std::vector<float>& latents, int64_t count, const Tensor& image, double& fitted,
                         double& baseline) {
    const std::vector<double> reference = block_means(image, f, true);
    const Tensor preview = apply_preview(map, latents.data(), count, kSide, kSide);
    double se = 0.0, se_flat = 0.0;
    for (size_t i = 0; i < reference.size(); ++i) {
      const double d = preview.data()[i] - reference[i];
      const double d_flat = std::clamp(flat[i % 3] * 0.5 + 0.5, 0.0, 1.0) - reference[i];
      se += d * d;
      se_flat += d_flat * d_flat;
    }
    const auto psnr = [&](double sum) {
      const double mse = sum / static_cast<double>(reference.size());
      return mse > 0.0 ? 10.0 * std::log10(1.0 / mse) : 99.0;
    };
    fitted = psnr(se);
    baseline = psnr(se_flat);
  };
  score(fit, kFitLatents, fit_image, map.stats.fit_psnr, map.stats.fit_flat_psnr);
  const std::vector<float> test = random_latents(kTestLatents, c, cfg.scaling_factor, 5678);
  score(test, kTestLatents, vae.decode_image(test.data(), kTestLatents, kSide, kSide, whole), map.stats.test_psnr,
        map.stats.test_flat_psnr);
  return map;
}

Tensor apply_preview(const PreviewMap& m, const float* latent, int64_t batch, int64_t height, int64_t width) {
  Tensor out({batch, height, width, 3});
  const int64_t plane = height * width;
  double rgb[3];
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t p = 0; p < plane; ++p) {
      predict(m, latent, b, plane, p, rgb);
      for (int64_t k = 0; k < 3; ++k)
        out.data()[(b * plane + p) * 3 + k] = static_cast<float>(std::clamp(rgb[k] * 0.5 + 0.5, 0.0, 1.0));
    }
  return out;
}

}  // namespace sana::dcae
