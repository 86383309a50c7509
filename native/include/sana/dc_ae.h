#pragma once
// AutoencoderDC (DC-AE, the dc-ae-f32c32-sana family SANA decodes with), computed as
// diffusers computes it, in float32, on a backend ("cpu" today).
//
// decode() / encode() are AutoencoderDC.decode / .encode: raw latents in and out (the
// pipeline divides by scaling_factor before decoding and multiplies after encoding; the
// `scaled` options do that here). Images are NCHW in [-1, 1] like the reference; the
// pipeline's own output conversions (to [0, 1] NHWC floats and to 8-bit RGB) are below.
//
// Large images decode tile by tile (decode_image): the low-resolution attention stages run
// once on the whole latent, the high-resolution conv stages tile by tile with a halo wide
// enough that the result equals the whole decode (see src/model/dc_ae_tiling.h).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sana/tensor.h"

namespace sana {

// One stage of the encoder or decoder (index i of the *_block_out_channels lists).
struct DcAeStage {
  std::string block_type;            // "ResBlock" or "EfficientViTBlock"
  int64_t channels = 0;              // block_out_channels[i]
  int64_t layers = 0;                // layers_per_block[i]
  std::vector<int64_t> multiscales;  // qkv_multiscales[i] (EfficientViTBlock kernel sizes)
  std::string act_fn = "silu";       // ResBlock nonlinearity (decoder_act_fns; the encoder's is silu)
};

// vae/config.json, with diffusers' defaults for absent keys.
struct DcAeConfig {
  int64_t in_channels = 3;
  int64_t latent_channels = 32;
  int64_t attention_head_dim = 32;
  std::vector<DcAeStage> encoder;
  std::vector<DcAeStage> decoder;
  std::string upsample_block_type = "pixel_shuffle";
  std::string downsample_block_type = "pixel_unshuffle";
  bool encoder_out_shortcut = true;
  bool decoder_in_shortcut = true;
  std::string decoder_conv_act_fn = "relu";
  double scaling_factor = 1.0;

  // Pixels per latent pixel along each axis: 2^(stages - 1) (32 for the f32 models).
  int64_t spatial_compression() const { return int64_t{1} << (encoder.size() - 1); }

  // Throws naming the key on values this implementation does not support.
  static DcAeConfig from_json(const nlohmann::json& config);
  // mit-han-lab/dc-ae-f32c32-sana-1.0 (and 1.1): the real SANA autoencoder.
  static DcAeConfig sana_f32c32();
};

// Named intermediate tensors (NCHW): decoder_conv_in_out, decoder_up_blocks_{i}_out,
// encoder_down_blocks_{i}_out, as the golden cases name them.
struct DcAeCaptures {
  std::vector<std::pair<std::string, Tensor>> tensors;
  const Tensor* find(const std::string& name) const;
};

struct DcAeLoadOptions {
  std::string backend = "cpu";
  bool encoder = true;  // the text-to-image path needs only the decoder
  bool decoder = true;
  // Scratch cap of one EfficientViT block (0 = none). Above it the block runs in bands of
  // image rows, with the same result: its expansion (12x the channels for GLUMBConv) would
  // otherwise dominate the memory of large images.
  size_t vit_scratch_bytes = size_t{1} << 30;
};

struct DcAeTileOptions {
  // Tile edge in latent pixels (x32 image pixels). Each tile is decoded with a halo that
  // covers the tail's receptive field, so the size trades memory against halo overhead only.
  int64_t tile_latent = 32;
};

struct DcAeDecodeOptions {
  bool scaled = false;  // divide by scaling_factor first (latents straight from the sampler)
  enum class Tiling : uint8_t { Auto, Off, On };
  Tiling tiling = Tiling::Auto;  // Auto: tile when the untiled workspace would pass auto_tile_bytes
  DcAeTileOptions tiles;
  size_t auto_tile_bytes = size_t{4} << 30;
  // Called after each tile of a tiled decode with (tiles done, tiles in all): progress
  // reports, and cancellation (returning false stops there; the rest of the image stays 0).
  using Progress = std::function<bool(int64_t done, int64_t total)>;
  Progress progress;
};

// PSNR (dB, [0, 1] scale) of the preview against the 32x32 block means of the full decode,
// on the latents it was fitted to and on held-out ones, each next to the best flat colour
// (the fit set's mean colour) as a baseline.
struct DcAePreviewStats {
  double fit_psnr = 0.0, fit_flat_psnr = 0.0;
  double test_psnr = 0.0, test_flat_psnr = 0.0;
};

// Supplies a weight by its diffusers name (e.g. "decoder.conv_in.weight"), float32, of
// exactly `shape`.
using DcAeWeightSource = std::function<Tensor(const std::string& name, const Shape& shape)>;

class DcAutoencoder {
 public:
  // `dir` is a vae/ folder (config.json + safetensors) or a pipeline folder that has one.
  static DcAutoencoder load(const std::filesystem::path& dir, const DcAeLoadOptions& options = {});
  // The same from weights supplied by name (benchmarks build the real shapes in memory).
  static DcAutoencoder build(const DcAeConfig& config, const DcAeWeightSource& weights,
                             const DcAeLoadOptions& options = {});

  DcAutoencoder(DcAutoencoder&&) noexcept;
  DcAutoencoder& operator=(DcAutoencoder&&) noexcept;
  ~DcAutoencoder();

  const DcAeConfig& config() const;
  std::string backend_name() const;
  size_t weight_bytes() const;
  bool has_encoder() const;
  bool has_decoder() const;

  // AutoencoderDC.decode: latent (batch, latent_channels, h, w) -> image (batch, 3, h * f,
  // w * f), f = spatial_compression(), not clamped. `scaled`: the latent is in the diffusion
  // model's space and is divided by scaling_factor first (what the pipeline decodes).
  Tensor decode(const float* latent, int64_t batch, int64_t height, int64_t width, bool scaled = false,
                DcAeCaptures* captures = nullptr);
  // The decoded image NHWC (batch, h * f, w * f, 3), the decoder's native layout, decoded
  // whole or by tiles as `options` say.
  Tensor decode_image(const float* latent, int64_t batch, int64_t height, int64_t width,
                      const DcAeDecodeOptions& options = {});
  // Scratch bytes an untiled decode of this latent size takes (activations; not weights).
  size_t decode_workspace_bytes(int64_t batch, int64_t height, int64_t width) const;

  // AutoencoderDC.encode: image (batch, 3, H, W) in [-1, 1], H and W multiples of
  // spatial_compression() -> latent (batch, latent_channels, H / f, W / f). `scaled`:
  // multiply by scaling_factor (the diffusion model's latent space, as img2img uses it).
  Tensor encode(const float* image, int64_t batch, int64_t height, int64_t width, bool scaled = false,
                DcAeCaptures* captures = nullptr);

  // Workspace statistics of the last pass (bytes reserved, system allocations so far).
  size_t workspace_bytes() const;
  size_t workspace_allocations() const;

  // A cheap preview: one RGB pixel per latent pixel, NHWC (batch, h, w, 3) in [0, 1], from a
  // linear map of the latent channels (+ bias) fitted by least squares to this decoder's
  // own output (each 32x32 block averaged) on random latents. Fitted on first use (a few
  // small decodes), then free: no decoder pass per preview.
  Tensor preview(const float* latent, int64_t batch, int64_t height, int64_t width, bool scaled = false);
  // How well the preview's fit went (fits first if needed).
  DcAePreviewStats preview_stats();

  struct Impl;

 private:
  explicit DcAutoencoder(std::unique_ptr<Impl> impl);
  void ensure_preview();
  std::unique_ptr<Impl> impl_;
};

// The pipeline's output conversion (VaeImageProcessor.postprocess, output_type "np"):
// clamp(x * 0.5 + 0.5, 0, 1) elementwise, in float32, on an NHWC image.
Tensor image_to_unit(const Tensor& nhwc);
// ... then numpy_to_pil's (x * 255).round().astype(uint8): the product in float32 and
// round-half-to-even, as numpy does. Input NHWC in [-1, 1]; output bytes in the same order.
std::vector<uint8_t> image_to_rgb8(const Tensor& nhwc);

}  // namespace sana
