// AutoencoderDC (DC-AE, diffusers): the ends of encoder and decoder fix the image and
// latent channel counts the pipeline relies on.
#include "io/schema_check.h"

namespace sana::schema {

namespace {

std::string dims(const std::vector<int64_t>& v) { return shape_str(v); }

void check_stages(const Checker& c, const std::string& prefix, const std::vector<int64_t>& layers,
                  const std::string& config_key) {
  // A stage with no layers and no resampling block holds no weights, so only the
  // populated stages must appear, and nothing past the configured stage count.
  const std::vector<int64_t> present = c.layer_indices(prefix);
  for (int64_t index : present)
    if (index >= static_cast<int64_t>(layers.size()))
      c.fail_weights("has " + prefix + "." + std::to_string(index) + ".*, but config.json " + config_key + " = " +
                     dims(layers) + " has " + std::to_string(layers.size()) + " stages");
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i] == 0) continue;
    bool found = false;
    for (int64_t index : present) found = found || index == static_cast<int64_t>(i);
    if (!found)
      c.fail_weights("has no " + prefix + "." + std::to_string(i) + ".*, but config.json " + config_key + " = " +
                     dims(layers) + " gives that stage " + std::to_string(layers[i]) + " layers");
  }
}

}  // namespace

void check_dc_autoencoder(const Checker& c) {
  const int64_t in_channels = c.config_int("in_channels", 3);
  const int64_t latent = c.config_int("latent_channels");
  const std::vector<int64_t> enc_out = c.config_ints("encoder_block_out_channels");
  const std::vector<int64_t> dec_out = c.config_ints("decoder_block_out_channels");
  const std::vector<int64_t> enc_layers = c.config_ints("encoder_layers_per_block");
  const std::vector<int64_t> dec_layers = c.config_ints("decoder_layers_per_block");
  if (enc_out.empty() || enc_out.size() != enc_layers.size())
    c.fail_config("encoder_block_out_channels " + dims(enc_out) + " and encoder_layers_per_block " +
                  dims(enc_layers) + " must be non-empty and of equal length");
  if (dec_out.empty() || dec_out.size() != dec_layers.size())
    c.fail_config("decoder_block_out_channels " + dims(dec_out) + " and decoder_layers_per_block " +
                  dims(dec_layers) + " must be non-empty and of equal length");
  const std::string in_s = "in_channels=" + std::to_string(in_channels);
  const std::string latent_s = "latent_channels=" + std::to_string(latent);

  // With an empty first stage, diffusers replaces conv_in by a downsampling block.
  if (enc_layers.front() > 0)
    c.expect_shape("encoder.conv_in.weight", {enc_out.front(), in_channels, 3, 3},
                   "[encoder_block_out_channels[0]=" + std::to_string(enc_out.front()) + ", " + in_s + ", 3, 3]");
  c.expect_shape("encoder.conv_out.weight", {latent, enc_out.back(), 3, 3},
                 "[" + latent_s + ", encoder_block_out_channels[-1]=" + std::to_string(enc_out.back()) + ", 3, 3]");
  c.expect_shape("decoder.conv_in.weight", {dec_out.back(), latent, 3, 3},
                 "[decoder_block_out_channels[-1]=" + std::to_string(dec_out.back()) + ", " + latent_s + ", 3, 3]");
  if (dec_layers.front() > 0)
    c.expect_shape("decoder.conv_out.weight", {in_channels, dec_out.front(), 3, 3},
                   "[" + in_s + ", decoder_block_out_channels[0]=" + std::to_string(dec_out.front()) + ", 3, 3]");
  check_stages(c, "encoder.down_blocks", enc_layers, "encoder_layers_per_block");
  check_stages(c, "decoder.up_blocks", dec_layers, "decoder_layers_per_block");
}

}  // namespace sana::schema
