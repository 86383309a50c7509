#include "random_weights.h"

#include <cmath>
#include <string>

namespace sana::bench {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [-1, 1).
float uniform(uint64_t& state) {
  return static_cast<float>(static_cast<double>(splitmix64(state) >> 40) / static_cast<double>(1ull << 23) - 1.0);
}

uint64_t hash_name(const std::string& name, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void fill_random(float* out, int64_t n, uint64_t seed, float scale) {
  uint64_t state = seed;
  // The sum of three U(-1, 1) has variance 1 and a bell shape: close enough to randn here.
  for (int64_t i = 0; i < n; ++i) out[i] = (uniform(state) + uniform(state) + uniform(state)) * scale;
}

DitWeightSource random_weights(uint64_t seed) {
  return [seed](const std::string& name, const Shape& shape) {
    Tensor t(shape);
    uint64_t state = hash_name(name, seed);
    float* v = t.data();
    const int64_t n = t.numel();
    const int64_t fan_in = shape.empty() ? 1 : n / shape[0];
    if (ends_with(name, "norm_q.weight") || ends_with(name, "norm_k.weight") || name == "caption_norm.weight") {
      for (int64_t i = 0; i < n; ++i) v[i] = 1.0f + 0.1f * uniform(state);
    } else if (ends_with(name, "scale_shift_table")) {
      const float s = 1.0f / std::sqrt(static_cast<float>(shape.back()));
      for (int64_t i = 0; i < n; ++i) v[i] = s * uniform(state);
    } else if (ends_with(name, ".bias")) {
      for (int64_t i = 0; i < n; ++i) v[i] = 0.02f * uniform(state);
    } else {
      const float s = 1.0f / std::sqrt(static_cast<float>(fan_in));
      for (int64_t i = 0; i < n; ++i) v[i] = s * uniform(state);
    }
    return t;
  };
}

}  // namespace sana::bench
