// Gemma2Model.forward (transformers modeling_gemma2.py, eager attention) on a Backend.
//
// Per layer, on token-major rows (b * tokens + t):
//   x += post_attention_norm(o_proj(attention(rope(q), rope(k), v)))   of input_norm(x)
//   x += post_feedforward_norm(down(gelu_tanh(gate(h)) * up(h)))      h = pre_feedforward_norm(x)
// then the final norm. Sliding layers mask keys more than sliding_window - 1 positions back.
#include <cmath>
#include <mutex>
#include <string>

#include "backend/backend.h"
#include "core/profiler.h"
#include "model/gemma2_weights.h"
#include "sana/error.h"
#include "sana/gemma2.h"
#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana {

namespace fs = std::filesystem;

namespace {

// The embedding scale as Gemma2TextScaledWordEmbedding applies it: sqrt(hidden) made a
// float32 tensor, then cast to the weights' dtype (for bf16 weights sqrt(3072) = 55.4256
// becomes 55.5; sqrt(2304) = 48 is exact in every dtype).
float embedding_scale(int64_t hidden, DType dtype) {
  const float s = static_cast<float>(std::sqrt(static_cast<double>(hidden)));
  switch (dtype) {
    case DType::BF16:
      return bf16_to_f32(f32_to_bf16(s));
    case DType::F16:
      return f16_to_f32(f32_to_f16(s));
    default:
      return s;
  }
}

// Gemma2RotaryEmbedding (rope_type "default") in float32 as transformers computes it:
// inv_freq = 1 / theta^(arange(0, dim, 2) / dim), angle = inv_freq * position.
void rope_tables(const Gemma2Config& c, int64_t tokens, std::vector<float>& cos, std::vector<float>& sin) {
  const int64_t half = c.head_dim / 2;
  cos.resize(static_cast<size_t>(tokens * half));
  sin.resize(cos.size());
  const float theta = static_cast<float>(c.rope_theta);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    const float inv_freq = 1.0f / std::pow(theta, exponent);
    for (int64_t t = 0; t < tokens; ++t) {
      const float angle = inv_freq * static_cast<float>(t);
      cos[t * half + i] = std::cos(angle);
      sin[t * half + i] = std::sin(angle);
    }
  }
}

}  // namespace

struct Gemma2TextEncoder::Impl {
  Gemma2Config config;
  std::unique_ptr<Backend> backend;
  Checkpoint checkpoint;     // keeps the memory-mapped embedding table alive (load())
  Tensor owned_embedding;    // or holds it (build())
  TensorView embedding;      // (vocab_size, hidden_size), stored dtype, in one of the two
  float embed_scale = 1.0f;
  gemma2::Weights weights;
  mutable std::mutex mutex;  // one encode at a time: the backend's scratch is per pass

  // Rows of the embedding table, widened and scaled, for every id of the batch.
  std::vector<float> embed(const int32_t* ids, int64_t n) const {
    const int64_t d = config.hidden_size;
    const size_t row_bytes = static_cast<size_t>(d) * dtype_size(embedding.dtype);
    std::vector<float> out(static_cast<size_t>(n * d));
    for (int64_t i = 0; i < n; ++i) {
      float* row = out.data() + i * d;
      convert_to_f32(embedding.dtype, embedding.data + static_cast<size_t>(ids[i]) * row_bytes, row,
                     static_cast<size_t>(d));
      for (int64_t j = 0; j < d; ++j) row[j] *= embed_scale;
    }
    return out;
  }
};

Gemma2TextEncoder::Gemma2TextEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gemma2TextEncoder::Gemma2TextEncoder(Gemma2TextEncoder&&) noexcept = default;
Gemma2TextEncoder& Gemma2TextEncoder::operator=(Gemma2TextEncoder&&) noexcept = default;
Gemma2TextEncoder::~Gemma2TextEncoder() = default;

const Gemma2Config& Gemma2TextEncoder::config() const { return impl_->config; }
std::string Gemma2TextEncoder::backend_name() const { return std::string(impl_->backend->name()); }
DType Gemma2TextEncoder::weights_dtype() const { return impl_->embedding.dtype; }
size_t Gemma2TextEncoder::weight_bytes() const { return impl_->weights.bytes; }
size_t Gemma2TextEncoder::workspace_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->backend->scratch_bytes();
}
size_t Gemma2TextEncoder::workspace_allocations() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->backend->scratch_system_allocations();
}

Gemma2TextEncoder Gemma2TextEncoder::load(const fs::path& dir, const std::string& backend) {
  // Accept the text_encoder/ folder itself or a pipeline folder containing one.
  const fs::path folder = fs::is_regular_file(dir / "config.json") ? dir : dir / "text_encoder";
  auto impl = std::make_unique<Impl>();
  impl->config = Gemma2Config::from_json(read_json_file(folder / "config.json"));
  const Gemma2Config& c = impl->config;
  impl->checkpoint = Checkpoint::open_dir(folder);
  const std::string embed_name = gemma2::tensor_prefix(impl->checkpoint) + "embed_tokens.weight";
  impl->embedding = impl->checkpoint.view(embed_name);
  const Shape expected{c.vocab_size, c.hidden_size};
  check(impl->embedding.shape == expected, "text encoder " + folder.string() + ": " + embed_name + " has shape " +
                                               shape_str(impl->embedding.shape) + ", expected " +
                                               shape_str(expected) + " ([vocab_size, hidden_size])");
  check(is_float(impl->embedding.dtype), "text encoder " + folder.string() + ": " + embed_name + " is " +
                                             std::string(dtype_name(impl->embedding.dtype)) +
                                             ", expected a float dtype");
  impl->embed_scale = embedding_scale(c.hidden_size, impl->embedding.dtype);
  impl->backend = make_backend(backend);
  impl->weights = gemma2::load_weights(c, gemma2::checkpoint_source(impl->checkpoint), *impl->backend);
  return Gemma2TextEncoder(std::move(impl));
}

Gemma2TextEncoder Gemma2TextEncoder::build(const Gemma2Config& config, const Gemma2WeightSource& weights,
                                           const std::string& backend) {
  check(static_cast<int64_t>(config.sliding_layers.size()) == config.num_hidden_layers,
        "text encoder config: sliding_layers has " + std::to_string(config.sliding_layers.size()) +
            " entries, expected num_hidden_layers (" + std::to_string(config.num_hidden_layers) + ")");
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  const Shape expected{config.vocab_size, config.hidden_size};
  impl->owned_embedding = weights("embed_tokens.weight", expected);
  check(impl->owned_embedding.shape() == expected, "text encoder weights: embed_tokens.weight has shape " +
                                                       shape_str(impl->owned_embedding.shape()) + ", expected " +
                                                       shape_str(expected));
  impl->embedding.dtype = DType::F32;
  impl->embedding.shape = expected;
  impl->embedding.data = reinterpret_cast<const std::byte*>(impl->owned_embedding.data());
  impl->embedding.nbytes = static_cast<size_t>(impl->owned_embedding.numel()) * sizeof(float);
  impl->embed_scale = embedding_scale(config.hidden_size, DType::F32);
  impl->backend = make_backend(backend);
  impl->weights = gemma2::load_weights(config, weights, *impl->backend);
  return Gemma2TextEncoder(std::move(impl));
}

Tensor Gemma2TextEncoder::encode(const int32_t* input_ids, const int32_t* attention_mask, int64_t batch,
                                 int64_t tokens) const {
  const Impl& m = *impl_;
  const Gemma2Config& c = m.config;
  check(input_ids != nullptr && attention_mask != nullptr && batch > 0 && tokens > 0,
        "text encoder: input_ids and attention_mask must be non-empty (batch, tokens) arrays");
  const int64_t rows = batch * tokens;
  std::vector<float> valid(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    check(input_ids[i] >= 0 && input_ids[i] < c.vocab_size,
          "text encoder: input_ids[" + std::to_string(i / tokens) + "][" + std::to_string(i % tokens) + "] = " +
              std::to_string(input_ids[i]) + " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    check(attention_mask[i] == 0 || attention_mask[i] == 1,
          "text encoder: attention_mask[" + std::to_string(i / tokens) + "][" + std::to_string(i % tokens) +
              "] = " + std::to_string(attention_mask[i]) + ", expected 0 or 1");
    valid[i] = static_cast<float>(attention_mask[i]);
  }
  const std::vector<float> embedded = m.embed(input_ids, rows);
  std::vector<float> cos_table, sin_table;
  rope_tables(c, tokens, cos_table, sin_table);

  std::lock_guard<std::mutex> lock(m.mutex);
  Backend& be = *m.backend;
  be.reset_scratch();
  const int64_t D = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  const int64_t QKV = Q + 2 * KV;
  const auto scratch = [&](int64_t n) { return be.scratch(static_cast<size_t>(n)); };
  float* x = scratch(rows * D);
  float* h = scratch(rows * D);
  float* qkv = scratch(rows * QKV);
  float* attn = scratch(rows * Q);
  float* proj = scratch(rows * D);
  float* gate_up = scratch(rows * 2 * I);
  float* act = scratch(rows * I);
  float* key_valid = scratch(rows);
  float* cos = scratch(static_cast<int64_t>(cos_table.size()));
  float* sin = scratch(static_cast<int64_t>(sin_table.size()));
  be.upload(x, embedded.data(), embedded.size());
  be.upload(key_valid, valid.data(), valid.size());
  be.upload(cos, cos_table.data(), cos_table.size());
  be.upload(sin, sin_table.data(), sin_table.size());

  const float eps = static_cast<float>(c.rms_norm_eps);
  Backend::CausalAttentionShape shape;
  shape.batch = batch;
  shape.tokens = tokens;
  shape.heads = c.num_attention_heads;
  shape.kv_heads = c.num_key_value_heads;
  shape.head_dim = c.head_dim;
  shape.scale = static_cast<float>(std::pow(c.query_pre_attn_scalar, -0.5));
  shape.softcap = c.attn_logit_softcapping ? static_cast<float>(*c.attn_logit_softcapping) : 0.0f;

  LapProfiler prof;  // SANA_PROFILE=1: time per op family, summed over the layers
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const gemma2::LayerWeights& w = m.weights.layers[static_cast<size_t>(l)];
    const bool bias = c.attention_bias;
    be.rms_norm(x, rows, D, D, w.input_norm.data(), eps, h, D);
    prof.lap("norms + residuals");
    be.linear(h, rows, D, w.qkv_w.data(), QKV, bias ? w.qkv_b.data() : nullptr, Activation::None, qkv);
    prof.lap("qkv projection");
    be.rope(qkv, batch, tokens, c.num_attention_heads, c.head_dim, QKV, cos, sin);
    be.rope(qkv + Q, batch, tokens, c.num_key_value_heads, c.head_dim, QKV, cos, sin);
    prof.lap("rope");
    shape.window = c.sliding_layers[static_cast<size_t>(l)] && c.sliding_window ? *c.sliding_window : 0;
    be.causal_attention(qkv, QKV, qkv + Q, qkv + Q + KV, QKV, key_valid, shape, attn, Q);
    prof.lap("attention");
    be.linear(attn, rows, Q, w.o_w.data(), D, bias ? w.o_b.data() : nullptr, Activation::None, proj);
    prof.lap("o projection");
    be.rms_norm(proj, rows, D, D, w.post_attention_norm.data(), eps, h, D);
    be.add(x, h, rows * D);
    be.rms_norm(x, rows, D, D, w.pre_feedforward_norm.data(), eps, h, D);
    prof.lap("norms + residuals");
    be.linear(h, rows, D, w.gate_up_w.data(), 2 * I, nullptr, Activation::None, gate_up);
    prof.lap("gate|up projection");
    be.geglu(gate_up, rows, I, 2 * I, act);
    prof.lap("geglu");
    be.linear(act, rows, I, w.down_w.data(), D, nullptr, Activation::None, proj);
    prof.lap("down projection");
    be.rms_norm(proj, rows, D, D, w.post_feedforward_norm.data(), eps, h, D);
    be.add(x, h, rows * D);
    prof.lap("norms + residuals");
  }
  be.rms_norm(x, rows, D, D, m.weights.final_norm.data(), eps, h, D);
  prof.report("Gemma-2 encode");
  Tensor out({batch, tokens, D});
  be.download(out.data(), h, static_cast<size_t>(rows * D));
  return out;
}

}  // namespace sana
