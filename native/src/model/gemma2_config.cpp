// text_encoder/config.json -> Gemma2Config, with transformers' Gemma2Config defaults.
#include <cmath>
#include <string>

#include "sana/error.h"
#include "sana/gemma2.h"

namespace sana {

namespace {

using Json = nlohmann::json;

const char* const kWhere = "text encoder config";

bool present(const Json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

int64_t int_or(const Json& j, const char* key, int64_t fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_number_integer(), std::string(kWhere) + ": \"" + key + "\" must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

double number_or(const Json& j, const char* key, double fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_number(), std::string(kWhere) + ": \"" + key + "\" must be a number, got " + v.dump());
  return v.get<double>();
}

void require_positive(int64_t value, const char* key) {
  check(value > 0, std::string(kWhere) + ": \"" + key + "\" must be positive, got " + std::to_string(value));
}

}  // namespace

Gemma2Config Gemma2Config::from_json(const Json& j) {
  check(j.is_object(), std::string(kWhere) + ": expected a JSON object");
  if (present(j, "model_type")) {
    const std::string type = j.at("model_type").get<std::string>();
    // Gemma 1 has neither sandwich norms nor soft-capping; Gemma 3 adds qk-norm: both differ.
    check(type == "gemma2", std::string(kWhere) + ": model_type is \"" + type + "\", expected \"gemma2\"");
  }
  Gemma2Config c;
  c.vocab_size = int_or(j, "vocab_size", c.vocab_size);
  c.hidden_size = int_or(j, "hidden_size", c.hidden_size);
  c.intermediate_size = int_or(j, "intermediate_size", c.intermediate_size);
  c.num_hidden_layers = int_or(j, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = int_or(j, "num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = int_or(j, "num_key_value_heads", c.num_key_value_heads);
  c.head_dim = int_or(j, "head_dim", c.head_dim);
  c.rms_norm_eps = number_or(j, "rms_norm_eps", c.rms_norm_eps);
  c.query_pre_attn_scalar = number_or(j, "query_pre_attn_scalar", c.query_pre_attn_scalar);
  c.attn_logit_softcapping =
      j.contains("attn_logit_softcapping") && j.at("attn_logit_softcapping").is_null()
          ? std::nullopt
          : std::optional<double>(number_or(j, "attn_logit_softcapping", *c.attn_logit_softcapping));
  c.sliding_window = j.contains("sliding_window") && j.at("sliding_window").is_null()
                         ? std::nullopt
                         : std::optional<int64_t>(int_or(j, "sliding_window", *c.sliding_window));
  if (present(j, "attention_bias")) c.attention_bias = j.at("attention_bias").get<bool>();

  // transformers 5 writes rope_parameters; older configs (gemma-2-2b-it's own) rope_theta.
  if (present(j, "rope_parameters")) {
    const Json& rope = j.at("rope_parameters");
    check(rope.is_object(), std::string(kWhere) + ": \"rope_parameters\" must be an object");
    const std::string type = rope.value("rope_type", std::string("default"));
    check(type == "default",
          std::string(kWhere) + ": rope_type \"" + type + "\" is not supported (Gemma-2 uses \"default\")");
    c.rope_theta = number_or(rope, "rope_theta", number_or(j, "rope_theta", c.rope_theta));
  } else {
    c.rope_theta = number_or(j, "rope_theta", c.rope_theta);
  }
  if (present(j, "rope_scaling")) {
    const Json& scaling = j.at("rope_scaling");
    const std::string type =
        scaling.is_object() ? scaling.value("rope_type", scaling.value("type", std::string())) : std::string();
    check(type == "default", std::string(kWhere) + ": rope_scaling " + scaling.dump() + " is not supported");
  }
  for (const char* key : {"hidden_activation", "hidden_act"}) {
    if (!present(j, key)) continue;
    const std::string act = j.at(key).get<std::string>();
    check(act == "gelu_pytorch_tanh",
          std::string(kWhere) + ": \"" + key + "\" is \"" + act + "\", only \"gelu_pytorch_tanh\" is supported");
    break;  // hidden_activation wins over hidden_act, as in Gemma2MLP
  }
  check(!present(j, "use_bidirectional_attention") || !j.at("use_bidirectional_attention").get<bool>(),
        std::string(kWhere) + ": use_bidirectional_attention = true is not supported (SANA's encoder is causal)");

  require_positive(c.vocab_size, "vocab_size");
  require_positive(c.hidden_size, "hidden_size");
  require_positive(c.intermediate_size, "intermediate_size");
  require_positive(c.num_hidden_layers, "num_hidden_layers");
  require_positive(c.num_attention_heads, "num_attention_heads");
  require_positive(c.num_key_value_heads, "num_key_value_heads");
  require_positive(c.head_dim, "head_dim");
  check(c.head_dim % 2 == 0, std::string(kWhere) + ": \"head_dim\" must be even for rotary embeddings");
  check(c.num_attention_heads % c.num_key_value_heads == 0,
        std::string(kWhere) + ": num_attention_heads (" + std::to_string(c.num_attention_heads) +
            ") must be a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")");
  check(c.query_pre_attn_scalar > 0, std::string(kWhere) + ": \"query_pre_attn_scalar\" must be positive");
  check(!c.attn_logit_softcapping || *c.attn_logit_softcapping > 0,
        std::string(kWhere) + ": \"attn_logit_softcapping\" must be positive or null");
  check(!c.sliding_window || *c.sliding_window > 0,
        std::string(kWhere) + ": \"sliding_window\" must be positive or null");
  check(c.rope_theta > 0, std::string(kWhere) + ": \"rope_theta\" must be positive");

  if (present(j, "layer_types")) {
    const Json& types = j.at("layer_types");
    check(types.is_array() && static_cast<int64_t>(types.size()) == c.num_hidden_layers,
          std::string(kWhere) + ": \"layer_types\" must list num_hidden_layers (" +
              std::to_string(c.num_hidden_layers) + ") entries");
    for (const Json& t : types) {
      const std::string type = t.is_string() ? t.get<std::string>() : t.dump();
      check(type == "sliding_attention" || type == "full_attention",
            std::string(kWhere) + ": layer type \"" + type + "\" is not \"sliding_attention\" or \"full_attention\"");
      c.sliding_layers.push_back(type == "sliding_attention");
    }
  } else {
    // Gemma2Config's default: layers 0, 2, 4, ... slide, the others are global.
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) c.sliding_layers.push_back(i % 2 == 0);
  }
  return c;
}

}  // namespace sana
