#include "model/gemma2_weights.h"

#include <cstring>
#include <string>

#include "sana/error.h"

namespace sana::gemma2 {

namespace {

class Loader {
 public:
  Loader(const Gemma2WeightSource& source, Backend& backend, size_t& bytes)
      : source_(source), backend_(backend), bytes_(bytes) {}

  Buffer upload(const float* data, size_t n) {
    Buffer b = backend_.alloc(n);
    backend_.upload(b.data(), data, n);
    bytes_ += n * sizeof(float);
    return b;
  }

  Buffer get(const std::string& name, const Shape& shape) {
    const Tensor t = load(name, shape);
    return upload(t.data(), static_cast<size_t>(t.numel()));
  }

  // Gemma2RMSNorm computes x_normed * (1.0 + weight.float()): the sum rounds in float32, so
  // adding once here gives the same factor.
  Buffer norm(const std::string& name, int64_t d) {
    Tensor t = load(name, {d});
    for (int64_t i = 0; i < d; ++i) t.data()[i] = 1.0f + t.data()[i];
    return upload(t.data(), static_cast<size_t>(d));
  }

  // A projection weight: only linear() reads it, so the backend stores it in its GEMM format.
  Buffer matrix(const std::string& name, const Shape& shape) {
    const Tensor t = load(name, shape);
    bytes_ += static_cast<size_t>(t.numel()) * sizeof(float);
    return backend_.upload_weight(t.data(), static_cast<size_t>(t.numel()));
  }

  // Fused projection weights (q | k | v, gate | up), concatenated on the host because
  // upload_weight converts a whole matrix at once.
  Buffer concat_matrix(const std::vector<std::pair<std::string, Shape>>& parts) {
    std::vector<float> all;
    for (const auto& [name, shape] : parts) {
      const Tensor t = load(name, shape);
      all.insert(all.end(), t.data(), t.data() + t.numel());
    }
    bytes_ += all.size() * sizeof(float);
    return backend_.upload_weight(all.data(), all.size());
  }

  // Row-wise concatenation of same-width matrices (or vectors) that feed one fused GEMM,
  // written straight into the backend buffer (no host copy of the whole fused matrix).
  Buffer concat(const std::vector<std::pair<std::string, Shape>>& parts) {
    size_t total = 0;
    for (const auto& part : parts) total += static_cast<size_t>(numel(part.second));
    Buffer b = backend_.alloc(total);
    size_t offset = 0;
    for (const auto& [name, shape] : parts) {
      const Tensor t = load(name, shape);
      backend_.upload(b.data() + offset, t.data(), static_cast<size_t>(t.numel()));
      offset += static_cast<size_t>(t.numel());
    }
    bytes_ += total * sizeof(float);
    return b;
  }

 private:
  Tensor load(const std::string& name, const Shape& shape) {
    Tensor t = source_(name, shape);
    check(t.shape() == shape, "text encoder weights: " + name + " has shape " + shape_str(t.shape()) + ", expected " +
                                  shape_str(shape));
    return t;
  }

  const Gemma2WeightSource& source_;
  Backend& backend_;
  size_t& bytes_;
};

}  // namespace

std::string tensor_prefix(const Checkpoint& checkpoint) {
  if (checkpoint.contains("embed_tokens.weight")) return "";
  if (checkpoint.contains("model.embed_tokens.weight")) return "model.";
  fail("text encoder checkpoint " + checkpoint.origin().string() +
       ": no embed_tokens.weight (Gemma2Model) or model.embed_tokens.weight (Gemma2ForCausalLM)");
}

Gemma2WeightSource checkpoint_source(const Checkpoint& checkpoint) {
  return [&checkpoint, prefix = tensor_prefix(checkpoint)](const std::string& name, const Shape& shape) {
    return checkpoint.load_f32(prefix + name, shape);
  };
}

Weights load_weights(const Gemma2Config& c, const Gemma2WeightSource& source, Backend& backend) {
  Weights w;
  Loader ld(source, backend, w.bytes);
  const int64_t D = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = "layers." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.input_norm = ld.norm(l + "input_layernorm.weight", D);
    lw.post_attention_norm = ld.norm(l + "post_attention_layernorm.weight", D);
    lw.pre_feedforward_norm = ld.norm(l + "pre_feedforward_layernorm.weight", D);
    lw.post_feedforward_norm = ld.norm(l + "post_feedforward_layernorm.weight", D);
    lw.qkv_w = ld.concat_matrix({{l + "self_attn.q_proj.weight", {Q, D}},
                          {l + "self_attn.k_proj.weight", {KV, D}},
                          {l + "self_attn.v_proj.weight", {KV, D}}});
    lw.o_w = ld.matrix(l + "self_attn.o_proj.weight", {D, Q});
    if (c.attention_bias) {
      lw.qkv_b = ld.concat({{l + "self_attn.q_proj.bias", {Q}},
                            {l + "self_attn.k_proj.bias", {KV}},
                            {l + "self_attn.v_proj.bias", {KV}}});
      lw.o_b = ld.get(l + "self_attn.o_proj.bias", {D});
    }
    lw.gate_up_w = ld.concat_matrix({{l + "mlp.gate_proj.weight", {I, D}}, {l + "mlp.up_proj.weight", {I, D}}});
    lw.down_w = ld.matrix(l + "mlp.down_proj.weight", {D, I});
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = ld.norm("norm.weight", D);
  return w;
}

}  // namespace sana::gemma2
