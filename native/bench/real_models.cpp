#include "real_models.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "random_weights.h"

namespace sana::bench {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t hash_name(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

}  // namespace

Gemma2Config gemma2_2b(int64_t vocab, int64_t layers) {
  Gemma2Config c;  // the struct's defaults are gemma-2-2b's
  c.vocab_size = vocab;
  c.num_hidden_layers = layers;
  for (int64_t i = 0; i < layers; ++i) c.sliding_layers.push_back(i % 2 == 0);
  return c;
}

Gemma2WeightSource gemma_random_weights(uint64_t seed) {
  return [base = random_weights(seed)](const std::string& name, const Shape& shape) {
    Tensor t = base(name, shape);
    if (ends_with(name, "norm.weight"))
      for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] *= 0.1f;
    return t;
  };
}

EncodeFlops encode_flops(const Gemma2Config& c, int64_t batch, int64_t tokens) {
  const double R = static_cast<double>(batch * tokens), D = static_cast<double>(c.hidden_size);
  const double Q = static_cast<double>(c.q_dim()), KV = static_cast<double>(c.kv_dim());
  const double I = static_cast<double>(c.intermediate_size);
  EncodeFlops f;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    f.gemm += 2 * R * D * (Q + 2 * KV) + 2 * R * Q * D + 2 * R * D * 2 * I + 2 * R * I * D;
    const int64_t window = c.sliding_layers[static_cast<size_t>(l)] && c.sliding_window ? *c.sliding_window : 0;
    double pairs = 0;  // (query, visible key) pairs per batch item
    for (int64_t i = 0; i < tokens; ++i) pairs += static_cast<double>(window > 0 ? std::min(i + 1, window) : i + 1);
    f.attention += static_cast<double>(batch) * static_cast<double>(c.num_attention_heads) * pairs *
                   static_cast<double>(c.head_dim) * 4;  // Q K^T and P V
  }
  return f;
}

DcAeWeightSource random_vae_weights() {
  return [](const std::string& name, const Shape& shape) {
    Tensor t(shape);
    const int64_t n = t.numel(), fan_in = shape.empty() ? 1 : n / shape[0];
    const bool norm = name.find("norm") != std::string::npos;
    if (norm && ends_with(name, ".weight")) {
      fill_random(t.data(), n, hash_name(name), 0.05f);
      for (int64_t i = 0; i < n; ++i) t.data()[i] += 1.0f;
    } else if (ends_with(name, ".bias")) {
      fill_random(t.data(), n, hash_name(name), 0.02f);
    } else {
      fill_random(t.data(), n, hash_name(name), 1.0f / std::sqrt(3.0f * static_cast<float>(fan_in)));
    }
    return t;
  };
}

DitConfig sana_1600m_4k() {
  DitConfig c;  // the struct's defaults are the 1.6B model's
  c.sample_size = 128;  // 4096 / 32
  return c;
}

}  // namespace sana::bench
