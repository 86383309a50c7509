// SanaTransformer2DModel (diffusers): the shapes its config.json fixes. A checkpoint that
// disagrees would otherwise fail deep inside a matmul, or worse, run with wrong strides.
#include <cmath>

#include "io/schema_check.h"

namespace sana::schema {

void check_sana_transformer(const Checker& c) {
  const int64_t heads = c.config_int("num_attention_heads");
  const int64_t head_dim = c.config_int("attention_head_dim");
  const int64_t inner = heads * head_dim;
  const int64_t in_channels = c.config_int("in_channels");
  const int64_t out_channels = c.config_int("out_channels", in_channels);
  const int64_t p = c.config_int("patch_size", 1);
  const int64_t caption = c.config_int("caption_channels");
  const int64_t layers = c.config_int("num_layers");
  const int64_t cross_heads = c.config_int("num_cross_attention_heads", heads);
  const int64_t cross_head_dim = c.config_int("cross_attention_head_dim", head_dim);
  const int64_t cross_dim = c.config_int("cross_attention_dim", inner);
  const auto ff_hidden = static_cast<int64_t>(static_cast<double>(inner) * c.config_number("mlp_ratio", 2.5));
  const std::string inner_s = "num_attention_heads*attention_head_dim=" + std::to_string(inner);

  c.expect_shape("patch_embed.proj.weight", {inner, in_channels, p, p},
                 "[" + inner_s + ", in_channels=" + std::to_string(in_channels) + ", patch_size=" + std::to_string(p) +
                     ", patch_size]");
  c.expect_shape("caption_projection.linear_1.weight", {inner, caption},
                 "[" + inner_s + ", caption_channels=" + std::to_string(caption) + "]");
  c.expect_shape("caption_projection.linear_2.weight", {inner, inner}, "[" + inner_s + ", same]");
  c.expect_shape("proj_out.weight", {out_channels * p * p, inner},
                 "[out_channels*patch_size^2=" + std::to_string(out_channels * p * p) + ", " + inner_s + "]");
  c.expect_shape("scale_shift_table", {2, inner}, "[2, " + inner_s + "]");

  c.expect_layer_count("transformer_blocks", layers, "num_layers");
  const std::string cross_s =
      "num_cross_attention_heads*cross_attention_head_dim=" + std::to_string(cross_heads * cross_head_dim);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string block = "transformer_blocks." + std::to_string(i) + ".";
    c.expect_shape(block + "attn1.to_q.weight", {inner, inner}, "[" + inner_s + ", same]");
    c.expect_shape(block + "attn2.to_q.weight", {cross_heads * cross_head_dim, inner}, "[" + cross_s + ", " + inner_s + "]");
    c.expect_shape(block + "attn2.to_k.weight", {cross_heads * cross_head_dim, cross_dim},
                   "[" + cross_s + ", cross_attention_dim=" + std::to_string(cross_dim) + "]");
    c.expect_shape(block + "ff.conv_inverted.weight", {2 * ff_hidden, inner, 1, 1},
                   "[2*int(inner*mlp_ratio)=" + std::to_string(2 * ff_hidden) + ", " + inner_s + ", 1, 1]");
    c.expect_shape(block + "scale_shift_table", {6, inner}, "[6, " + inner_s + "]");
    if (c.config_is_set("qk_norm"))
      c.expect_shape(block + "attn1.norm_q.weight", {inner}, "[" + inner_s + "] (qk_norm is set)");
  }
  if (c.config_bool("guidance_embeds", false))
    c.expect_shape("time_embed.guidance_embedder.linear_2.weight", {inner, inner},
                   "[" + inner_s + ", same] (guidance_embeds is true)");
}

}  // namespace sana::schema
