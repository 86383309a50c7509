#include "model/sana_dit_embed.h"

#include <cmath>
#include <string>

#include "sana/error.h"

namespace sana::dit {

std::vector<float> timestep_embedding(const float* t, int64_t n, int64_t channels) {
  check(channels % 2 == 0, "timestep embedding: channel count must be even");
  const int64_t half = channels / 2;
  // torch evaluates these in float32: (float)(-ln 10000) * i, / half, exp.
  const float neg_log_period = static_cast<float>(-std::log(10000.0));
  std::vector<float> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = neg_log_period * static_cast<float>(i) / static_cast<float>(half);
    freq[i] = std::exp(exponent);
  }
  std::vector<float> out(static_cast<size_t>(n * channels));
  for (int64_t b = 0; b < n; ++b) {
    float* row = out.data() + b * channels;
    for (int64_t i = 0; i < half; ++i) {
      const float arg = t[b] * freq[i];
      row[i] = std::cos(arg);  // flip_sin_to_cos: cosines first
      row[half + i] = std::sin(arg);
    }
  }
  return out;
}

std::vector<float> sincos_pos_embed(int64_t dim, int64_t h, int64_t w, int64_t base_size, double interpolation_scale) {
  check(dim % 4 == 0, "sin-cos positional embedding: inner dim " + std::to_string(dim) + " is not a multiple of 4");
  const int64_t quarter = dim / 4;
  std::vector<double> omega(static_cast<size_t>(quarter));
  for (int64_t k = 0; k < quarter; ++k)
    omega[k] = 1.0 / std::pow(10000.0, static_cast<double>(k) / static_cast<double>(quarter));
  // Grid coordinates are float32 in diffusers (arange / (size / base) / scale), the outer
  // product and sin/cos float64.
  const auto coord = [&](int64_t i, int64_t size) {
    const float step = static_cast<float>(static_cast<double>(size) / static_cast<double>(base_size));
    return static_cast<double>(static_cast<float>(static_cast<float>(i) / step) /
                               static_cast<float>(interpolation_scale));
  };
  std::vector<float> out(static_cast<size_t>(h * w * dim));
  for (int64_t y = 0; y < h; ++y) {
    const double py = coord(y, h);
    for (int64_t x = 0; x < w; ++x) {
      const double px = coord(x, w);
      float* row = out.data() + (y * w + x) * dim;
      for (int64_t k = 0; k < quarter; ++k) {
        row[k] = static_cast<float>(std::sin(px * omega[k]));
        row[quarter + k] = static_cast<float>(std::cos(px * omega[k]));
        row[2 * quarter + k] = static_cast<float>(std::sin(py * omega[k]));
        row[3 * quarter + k] = static_cast<float>(std::cos(py * omega[k]));
      }
    }
  }
  return out;
}

}  // namespace sana::dit
