#include "model/gemma2_weights.h"

#include <cstring>
#include <string>

#include "sana/error.h"

namespace sana::gemma2 {

namespace {

class Loader {
 public:
  Loader(const Checkpoint& checkpoint, std::string prefix, Backend& backend, size_t& bytes)
      : checkpoint_(checkpoint), prefix_(std::move(prefix)), backend_(backend), bytes_(bytes) {}

  Buffer upload(const float* data, size_t n) {
    Buffer b = backend_.alloc(n);
    backend_.upload(b.data(), data, n);
    bytes_ += n * sizeof(float);
    return b;
  }

  Buffer get(const std::string& name, const Shape& shape) {
    const Tensor t = checkpoint_.load_f32(prefix_ + name, shape);
    return upload(t.data(), static_cast<size_t>(t.numel()));
  }

  // Gemma2RMSNorm computes x_normed * (1.0 + weight.float()): the sum rounds in float32, so
  // adding once here gives the same factor.
  Buffer norm(const std::string& name, int64_t d) {
    Tensor t = checkpoint_.load_f32(prefix_ + name, {d});
    for (int64_t i = 0; i < d; ++i) t.data()[i] = 1.0f + t.data()[i];
    return upload(t.data(), static_cast<size_t>(d));
  }

  // Row-wise concatenation of same-width matrices (or vectors) that feed one fused GEMM.
  Buffer concat(const std::vector<std::pair<std::string, Shape>>& parts) {
    std::vector<float> all;
    for (const auto& [name, shape] : parts) {
      const Tensor t = checkpoint_.load_f32(prefix_ + name, shape);
      all.insert(all.end(), t.data(), t.data() + t.numel());
    }
    return upload(all.data(), all.size());
  }

 private:
  const Checkpoint& checkpoint_;
  std::string prefix_;
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

Weights load_weights(const Gemma2Config& c, const Checkpoint& checkpoint, Backend& backend) {
  Weights w;
  Loader ld(checkpoint, tensor_prefix(checkpoint), backend, w.bytes);
  const int64_t D = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = "layers." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.input_norm = ld.norm(l + "input_layernorm.weight", D);
    lw.post_attention_norm = ld.norm(l + "post_attention_layernorm.weight", D);
    lw.pre_feedforward_norm = ld.norm(l + "pre_feedforward_layernorm.weight", D);
    lw.post_feedforward_norm = ld.norm(l + "post_feedforward_layernorm.weight", D);
    lw.qkv_w = ld.concat({{l + "self_attn.q_proj.weight", {Q, D}},
                          {l + "self_attn.k_proj.weight", {KV, D}},
                          {l + "self_attn.v_proj.weight", {KV, D}}});
    lw.o_w = ld.get(l + "self_attn.o_proj.weight", {D, Q});
    if (c.attention_bias) {
      lw.qkv_b = ld.concat({{l + "self_attn.q_proj.bias", {Q}},
                            {l + "self_attn.k_proj.bias", {KV}},
                            {l + "self_attn.v_proj.bias", {KV}}});
      lw.o_b = ld.get(l + "self_attn.o_proj.bias", {D});
    }
    lw.gate_up_w = ld.concat({{l + "mlp.gate_proj.weight", {I, D}}, {l + "mlp.up_proj.weight", {I, D}}});
    lw.down_w = ld.get(l + "mlp.down_proj.weight", {D, I});
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = ld.norm("norm.weight", D);
  return w;
}

}  // namespace sana::gemma2
