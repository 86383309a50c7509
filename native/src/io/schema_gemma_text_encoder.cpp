// Gemma / Gemma 2 text encoders (transformers): embedding, per-layer projections and the
// layer count follow from config.json. Gemma*ForCausalLM nests the same tensors under "model.".
#include "io/schema_check.h"

namespace sana::schema {

void check_gemma_text_encoder(const Checker& c) {
  const std::string root = c.has("model.embed_tokens.weight") ? "model." : "";
  const int64_t hidden = c.config_int("hidden_size");
  const int64_t vocab = c.config_int("vocab_size");
  const int64_t layers = c.config_int("num_hidden_layers");
  const int64_t heads = c.config_int("num_attention_heads");
  const int64_t kv_heads = c.config_int("num_key_value_heads", heads);
  const int64_t head_dim = c.config_int("head_dim", heads > 0 ? hidden / heads : 0);
  const int64_t intermediate = c.config_int("intermediate_size");
  const std::string hidden_s = "hidden_size=" + std::to_string(hidden);
  const std::string q_s = "num_attention_heads*head_dim=" + std::to_string(heads * head_dim);
  const std::string kv_s = "num_key_value_heads*head_dim=" + std::to_string(kv_heads * head_dim);
  const std::string inter_s = "intermediate_size=" + std::to_string(intermediate);

  c.expect_shape(root + "embed_tokens.weight", {vocab, hidden},
                 "[vocab_size=" + std::to_string(vocab) + ", " + hidden_s + "]");
  c.expect_shape(root + "norm.weight", {hidden}, "[" + hidden_s + "]");
  c.expect_layer_count(root + "layers", layers, "num_hidden_layers");
  for (int64_t i = 0; i < layers; ++i) {
    const std::string layer = root + "layers." + std::to_string(i) + ".";
    c.expect_shape(layer + "self_attn.q_proj.weight", {heads * head_dim, hidden}, "[" + q_s + ", " + hidden_s + "]");
    c.expect_shape(layer + "self_attn.k_proj.weight", {kv_heads * head_dim, hidden}, "[" + kv_s + ", " + hidden_s + "]");
    c.expect_shape(layer + "self_attn.v_proj.weight", {kv_heads * head_dim, hidden}, "[" + kv_s + ", " + hidden_s + "]");
    c.expect_shape(layer + "self_attn.o_proj.weight", {hidden, heads * head_dim}, "[" + hidden_s + ", " + q_s + "]");
    c.expect_shape(layer + "mlp.gate_proj.weight", {intermediate, hidden}, "[" + inter_s + ", " + hidden_s + "]");
    c.expect_shape(layer + "mlp.up_proj.weight", {intermediate, hidden}, "[" + inter_s + ", " + hidden_s + "]");
    c.expect_shape(layer + "mlp.down_proj.weight", {hidden, intermediate}, "[" + hidden_s + ", " + inter_s + "]");
  }
}

}  // namespace sana::schema
