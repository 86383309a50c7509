// transformer/config.json -> DitConfig, with SanaTransformer2DModel.__init__'s defaults.
#include <string>

#include "sana/dit.h"
#include "sana/error.h"

namespace sana {

namespace {

using Json = nlohmann::json;

bool present(const Json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

int64_t int_or(const Json& j, const char* key, int64_t fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_number_integer(), std::string("transformer config: \"") + key + "\" must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

double number_or(const Json& j, const char* key, double fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_number(), std::string("transformer config: \"") + key + "\" must be a number, got " + v.dump());
  return v.get<double>();
}

bool bool_or(const Json& j, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_boolean(), std::string("transformer config: \"") + key + "\" must be true or false, got " + v.dump());
  return v.get<bool>();
}

void require_positive(int64_t value, const char* key) {
  check(value > 0, std::string("transformer config: \"") + key + "\" must be positive, got " + std::to_string(value));
}

}  // namespace

DitConfig DitConfig::from_json(const Json& j) {
  check(j.is_object(), "transformer config: expected a JSON object");
  if (present(j, "_class_name")) {
    const std::string cls = j.at("_class_name").get<std::string>();
    check(cls == "SanaTransformer2DModel",
          "transformer config: _class_name is \"" + cls + "\", expected \"SanaTransformer2DModel\"");
  }
  DitConfig c;
  c.in_channels = int_or(j, "in_channels", c.in_channels);
  c.out_channels = int_or(j, "out_channels", c.in_channels);
  c.num_attention_heads = int_or(j, "num_attention_heads", c.num_attention_heads);
  c.attention_head_dim = int_or(j, "attention_head_dim", c.attention_head_dim);
  c.num_layers = int_or(j, "num_layers", c.num_layers);
  check(!j.contains("num_cross_attention_heads") || present(j, "num_cross_attention_heads"),
        "transformer config: num_cross_attention_heads = null (no cross-attention) is not supported");
  check(!j.contains("cross_attention_dim") || present(j, "cross_attention_dim"),
        "transformer config: cross_attention_dim = null (no cross-attention) is not supported");
  c.num_cross_attention_heads = int_or(j, "num_cross_attention_heads", c.num_cross_attention_heads);
  c.cross_attention_head_dim = int_or(j, "cross_attention_head_dim", c.cross_attention_head_dim);
  c.cross_attention_dim = int_or(j, "cross_attention_dim", c.cross_attention_dim);
  c.caption_channels = int_or(j, "caption_channels", c.caption_channels);
  c.mlp_ratio = number_or(j, "mlp_ratio", c.mlp_ratio);
  c.attention_bias = bool_or(j, "attention_bias", c.attention_bias);
  c.sample_size = int_or(j, "sample_size", c.sample_size);
  c.patch_size = int_or(j, "patch_size", c.patch_size);
  c.norm_eps = number_or(j, "norm_eps", c.norm_eps);
  if (present(j, "interpolation_scale")) c.interpolation_scale = number_or(j, "interpolation_scale", 1.0);
  c.guidance_embeds = bool_or(j, "guidance_embeds", c.guidance_embeds);
  c.guidance_embeds_scale = number_or(j, "guidance_embeds_scale", c.guidance_embeds_scale);
  c.timestep_scale = number_or(j, "timestep_scale", c.timestep_scale);
  if (present(j, "qk_norm")) {
    const std::string qk = j.at("qk_norm").get<std::string>();
    check(qk == "rms_norm_across_heads",
          "transformer config: qk_norm \"" + qk + "\" is not supported (Sana uses \"rms_norm_across_heads\")");
    c.qk_norm = true;
  }
  check(!bool_or(j, "norm_elementwise_affine", false),
        "transformer config: norm_elementwise_affine = true is not supported (no Sana checkpoint uses it)");

  require_positive(c.in_channels, "in_channels");
  require_positive(c.out_channels, "out_channels");
  require_positive(c.num_attention_heads, "num_attention_heads");
  require_positive(c.attention_head_dim, "attention_head_dim");
  require_positive(c.num_layers, "num_layers");
  require_positive(c.num_cross_attention_heads, "num_cross_attention_heads");
  require_positive(c.cross_attention_head_dim, "cross_attention_head_dim");
  require_positive(c.caption_channels, "caption_channels");
  require_positive(c.patch_size, "patch_size");
  require_positive(c.sample_size, "sample_size");
  check(c.cross_attention_dim == c.inner_dim(),
        "transformer config: cross_attention_dim (" + std::to_string(c.cross_attention_dim) +
            ") must equal num_attention_heads * attention_head_dim (" + std::to_string(c.inner_dim()) +
            "): the cross-attention reads the projected caption");
  check(c.mlp_hidden() > 0, "transformer config: mlp_ratio must be positive");
  return c;
}

DitConfig DitConfig::sana_600m_512px() {
  DitConfig c;
  c.in_channels = 32;
  c.out_channels = 32;
  c.num_attention_heads = 36;
  c.attention_head_dim = 32;
  c.num_layers = 28;
  c.num_cross_attention_heads = 16;
  c.cross_attention_head_dim = 72;
  c.cross_attention_dim = 1152;
  c.caption_channels = 2304;
  c.mlp_ratio = 2.5;
  c.sample_size = 16;
  c.patch_size = 1;
  return c;
}

}  // namespace sana
