// vae/config.json -> DcAeConfig, with AutoencoderDC.__init__'s defaults, and the checks
// that keep the model inside what this implementation computes (the SANA DC-AE family).
#include <string>

#include "sana/dc_ae.h"
#include "sana/error.h"

namespace sana {

namespace {

using Json = nlohmann::json;

const std::string kWhere = "vae config: ";

bool present(const Json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

int64_t int_or(const Json& j, const char* key, int64_t fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_number_integer(), kWhere + "\"" + key + "\" must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

double number_or(const Json& j, const char* key, double fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_number(), kWhere + "\"" + key + "\" must be a number, got " + v.dump());
  return v.get<double>();
}

bool bool_or(const Json& j, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_boolean(), kWhere + "\"" + key + "\" must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string string_or(const Json& j, const char* key, const std::string& fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_string(), kWhere + "\"" + key + "\" must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> ints_or(const Json& j, const char* key, std::vector<int64_t> fallback) {
  if (!present(j, key)) return fallback;
  const Json& v = j.at(key);
  check(v.is_array(), kWhere + "\"" + key + "\" must be a list of integers, got " + v.dump());
  std::vector<int64_t> out;
  for (const Json& e : v) {
    check(e.is_number_integer(), kWhere + "\"" + key + "\" must be a list of integers, got " + v.dump());
    out.push_back(e.get<int64_t>());
  }
  return out;
}

// diffusers accepts one string for every stage or one per stage.
std::vector<std::string> per_stage_strings(const Json& j, const char* key, const std::string& fallback,
                                           size_t stages) {
  if (!present(j, key)) return std::vector<std::string>(stages, fallback);
  const Json& v = j.at(key);
  if (v.is_string()) return std::vector<std::string>(stages, v.get<std::string>());
  check(v.is_array() && v.size() == stages,
        kWhere + "\"" + key + "\" must be a string or a list of " + std::to_string(stages) + " strings, got " +
            v.dump());
  std::vector<std::string> out;
  for (const Json& e : v) {
    check(e.is_string(), kWhere + "\"" + key + "\" must hold strings, got " + v.dump());
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<std::vector<int64_t>> multiscales_or(const Json& j, const char* key, size_t stages) {
  // Default ((), (), (), (5,), (5,), (5,)) for the usual six stages.
  std::vector<std::vector<int64_t>> out(stages);
  if (!present(j, key)) {
    check(stages == 6, kWhere + "\"" + key + "\" must be given for a " + std::to_string(stages) +
                           "-stage model (the default has 6 entries)");
    for (size_t i = 3; i < 6; ++i) out[i] = {5};
    return out;
  }
  const Json& v = j.at(key);
  check(v.is_array() && v.size() == stages,
        kWhere + "\"" + key + "\" must be a list of " + std::to_string(stages) + " lists, got " + v.dump());
  for (size_t i = 0; i < stages; ++i) {
    check(v[i].is_array(), kWhere + "\"" + key + "\" entries must be lists of kernel sizes, got " + v.dump());
    for (const Json& k : v[i]) {
      check(k.is_number_integer() && k.get<int64_t>() > 0 && k.get<int64_t>() % 2 == 1,
            kWhere + "\"" + key + "\" kernel sizes must be odd positive integers, got " + v.dump());
      out[i].push_back(k.get<int64_t>());
    }
  }
  return out;
}

std::vector<DcAeStage> read_stages(const Json& j, const std::string& side) {
  const std::vector<int64_t> default_layers =
      side == "encoder" ? std::vector<int64_t>{2, 2, 2, 3, 3, 3} : std::vector<int64_t>{3, 3, 3, 3, 3, 3};
  const std::string channels_key = side + "_block_out_channels", layers_key = side + "_layers_per_block";
  const std::vector<int64_t> channels = ints_or(j, channels_key.c_str(), {128, 256, 512, 512, 1024, 1024});
  const std::vector<int64_t> layers = ints_or(j, layers_key.c_str(), default_layers);
  check(!channels.empty() && channels.size() == layers.size(),
        kWhere + channels_key + " and " + layers_key + " must be non-empty lists of equal length");
  const size_t n = channels.size();
  const std::vector<std::string> types = per_stage_strings(j, (side + "_block_types").c_str(), "ResBlock", n);
  const auto scales = multiscales_or(j, (side + "_qkv_multiscales").c_str(), n);
  // The encoder's ResBlocks are always rms_norm + silu; the decoder's are configurable.
  std::vector<std::string> acts(n, "silu");
  if (side == "decoder") {
    acts = per_stage_strings(j, "decoder_act_fns", "silu", n);
    for (const std::string& norm : per_stage_strings(j, "decoder_norm_types", "rms_norm", n))
      check(norm == "rms_norm", kWhere + "decoder_norm_types \"" + norm +
                                    "\" is not supported (the SANA DC-AE family uses \"rms_norm\")");
  }
  std::vector<DcAeStage> stages(n);
  for (size_t i = 0; i < n; ++i) {
    DcAeStage& s = stages[i];
    const std::string at = side + " stage " + std::to_string(i) + ": ";
    s.block_type = types[i];
    s.channels = channels[i];
    s.layers = layers[i];
    s.multiscales = scales[i];
    s.act_fn = acts[i];
    check(s.block_type == "ResBlock" || s.block_type == "EfficientViTBlock",
          kWhere + at + "block type \"" + s.block_type + "\" is not one of ResBlock, EfficientViTBlock");
    check(s.channels > 0, kWhere + at + "block_out_channels must be positive");
    // An empty stage makes diffusers swap conv_in / conv_out for resampling blocks, a
    // layout of the DC-AE "in"/"mix" models, not of SANA's.
    check(s.layers > 0, kWhere + at + "layers_per_block 0 is not supported (the SANA DC-AE family has no empty "
                                      "stages)");
    check(s.act_fn == "silu" || s.act_fn == "relu",
          kWhere + at + "activation \"" + s.act_fn + "\" is not supported (silu or relu)");
  }
  return stages;
}

}  // namespace

DcAeConfig DcAeConfig::from_json(const Json& j) {
  check(j.is_object(), kWhere + "expected a JSON object");
  if (present(j, "_class_name")) {
    const std::string cls = string_or(j, "_class_name", "");
    check(cls == "AutoencoderDC", kWhere + "_class_name is \"" + cls + "\", expected \"AutoencoderDC\"");
  }
  DcAeConfig c;
  c.in_channels = int_or(j, "in_channels", c.in_channels);
  c.latent_channels = int_or(j, "latent_channels", c.latent_channels);
  c.attention_head_dim = int_or(j, "attention_head_dim", c.attention_head_dim);
  c.encoder = read_stages(j, "encoder");
  c.decoder = read_stages(j, "decoder");
  c.upsample_block_type = string_or(j, "upsample_block_type", c.upsample_block_type);
  c.downsample_block_type = string_or(j, "downsample_block_type", c.downsample_block_type);
  c.encoder_out_shortcut = bool_or(j, "encoder_out_shortcut", c.encoder_out_shortcut);
  c.decoder_in_shortcut = bool_or(j, "decoder_in_shortcut", c.decoder_in_shortcut);
  c.decoder_conv_act_fn = string_or(j, "decoder_conv_act_fn", c.decoder_conv_act_fn);
  c.scaling_factor = number_or(j, "scaling_factor", c.scaling_factor);

  check(c.in_channels > 0 && c.latent_channels > 0 && c.attention_head_dim > 0,
        kWhere + "in_channels, latent_channels and attention_head_dim must be positive");
  check(c.encoder.size() == c.decoder.size(),
        kWhere + "encoder and decoder must have the same number of stages (" + std::to_string(c.encoder.size()) +
            " vs " + std::to_string(c.decoder.size()) + ")");
  check(c.encoder.size() <= 10, kWhere + "at most 10 stages are supported");
  // diffusers tests `== "interpolate"` / `== "pixel_unshuffle"`; anything else selects the
  // other variant, so the checks are phrased the same way.
  check(c.upsample_block_type == "interpolate",
        kWhere + "upsample_block_type \"" + c.upsample_block_type +
            "\" is not supported (the SANA DC-AE family uses \"interpolate\")");
  check(c.downsample_block_type != "pixel_unshuffle",
        kWhere + "downsample_block_type \"pixel_unshuffle\" is not supported (the SANA DC-AE family uses \"conv\")");
  check(c.decoder_conv_act_fn == "relu" || c.decoder_conv_act_fn == "silu",
        kWhere + "decoder_conv_act_fn \"" + c.decoder_conv_act_fn + "\" is not supported (relu or silu)");
  check(c.scaling_factor > 0.0, kWhere + "scaling_factor must be positive");

  for (const auto* side : {&c.encoder, &c.decoder}) {
    const std::string name = side == &c.encoder ? "encoder" : "decoder";
    for (size_t i = 0; i < side->size(); ++i) {
      const DcAeStage& s = (*side)[i];
      if (s.block_type == "EfficientViTBlock")
        check(s.channels % c.attention_head_dim == 0,
              kWhere + name + " stage " + std::to_string(i) + ": " + std::to_string(s.channels) +
                  " channels are not a whole number of attention heads of " + std::to_string(c.attention_head_dim));
      if (i + 1 < side->size()) {
        const int64_t next = (*side)[i + 1].channels;
        // The resampling shortcuts average (down) or repeat (up) whole channel groups.
        check((s.channels * 4) % next == 0,
              kWhere + name + " stages " + std::to_string(i) + "/" + std::to_string(i + 1) + ": channels " +
                  std::to_string(s.channels) + " -> " + std::to_string(next) +
                  " do not allow the pixel (un)shuffle shortcut");
      }
    }
  }
  if (c.encoder_out_shortcut)
    check(c.encoder.back().channels % c.latent_channels == 0,
          kWhere + "encoder_out_shortcut needs encoder_block_out_channels[-1] to be a multiple of latent_channels");
  if (c.decoder_in_shortcut)
    check(c.decoder.back().channels % c.latent_channels == 0,
          kWhere + "decoder_in_shortcut needs decoder_block_out_channels[-1] to be a multiple of latent_channels");
  return c;
}

DcAeConfig DcAeConfig::sana_f32c32() {
  Json j = {
      {"_class_name", "AutoencoderDC"},
      {"latent_channels", 32},
      {"attention_head_dim", 32},
      {"encoder_block_types",
       {"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}},
      {"decoder_block_types",
       {"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}},
      {"encoder_block_out_channels", {128, 256, 512, 512, 1024, 1024}},
      {"decoder_block_out_channels", {128, 256, 512, 512, 1024, 1024}},
      {"encoder_layers_per_block", {2, 2, 2, 3, 3, 3}},
      {"decoder_layers_per_block", {3, 3, 3, 3, 3, 3}},
      {"downsample_block_type", "conv"},
      {"upsample_block_type", "interpolate"},
      {"decoder_norm_types", "rms_norm"},
      {"decoder_act_fns", "silu"},
      {"scaling_factor", 0.41407},
  };
  return from_json(j);
}

}  // namespace sana
