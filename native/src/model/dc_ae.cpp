// DcAutoencoder: loading, the NCHW <-> NHWC edges of a pass, scaling and tiling choices.
// The passes themselves are in dc_ae_encoder.cpp / dc_ae_decoder.cpp.
#include "sana/dc_ae.h"

#include <mutex>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "model/dc_ae_passes.h"
#include "model/dc_ae_preview.h"
#include "model/dc_ae_tiling.h"
#include "model/dc_ae_weights.h"
#include "sana/error.h"
#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana {

namespace fs = std::filesystem;
using dcae::Grid;

namespace {

// (B, H, W, C) -> (B, C, H, W).
Tensor nhwc_to_nchw(const float* src, Grid g, int64_t channels) {
  Tensor out({g.batch, channels, g.height, g.width});
  float* dst = out.data();
  const int64_t hw = g.height * g.width;
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = 0; c < channels; ++c) dst[(b * channels + c) * hw + p] = src[(b * hw + p) * channels + c];
  return out;
}

// The pipeline's latents / scaling_factor: a float32 division, as torch does it.
std::vector<float> scale_latent(const float* latent, int64_t n, double scaling_factor) {
  const float sf = static_cast<float>(scaling_factor);
  std::vector<float> out(latent, latent + n);
  for (float& v : out) v /= sf;
  return out;
}

void check_grid(const char* what, int64_t batch, int64_t height, int64_t width) {
  check(batch > 0 && height > 0 && width > 0, std::string(what) + ": empty input (batch " + std::to_string(batch) +
                                                  ", " + std::to_string(height) + "x" + std::to_string(width) + ")");
}

}  // namespace

const Tensor* DcAeCaptures::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

struct DcAutoencoder::Impl {
  DcAeConfig config;
  std::unique_ptr<Backend> backend;
  std::optional<dcae::EncoderWeights> encoder;
  std::optional<dcae::DecoderWeights> decoder;
  size_t bytes = 0;
  int64_t vit_budget = 0;  // floats
  std::mutex mutex;  // one pass at a time: passes share the backend's scratch
  std::once_flag preview_once;  // the preview map is fitted on first use
  dcae::PreviewMap preview;

  dcae::CaptureFn capture_into(DcAeCaptures* captures) {
    if (!captures) return {};
    return [this, captures](const std::string& name, const float* data, Grid g, int64_t channels) {
      std::vector<float> host(static_cast<size_t>(g.pixels() * channels));
      backend->download(host.data(), data, host.size());
      captures->tensors.emplace_back(name, nhwc_to_nchw(host.data(), g, channels));
    };
  }

  // latent: NCHW host; image: NHWC host (grid * f, in_channels).
  void decode_into(const float* latent, Grid g, bool scaled, float* image, DcAeCaptures* captures) {
    check(decoder.has_value(), "vae: this autoencoder was loaded without its decoder");
    std::lock_guard lock(mutex);
    Backend& be = *backend;
    const DcAeConfig& c = config;
    const int64_t f = c.spatial_compression(), lat_n = g.pixels() * c.latent_channels;
    const Grid out{g.batch, g.height * f, g.width * f};
    be.reset_scratch();
    float* nchw = be.scratch(static_cast<size_t>(lat_n));
    float* nhwc = be.scratch(static_cast<size_t>(lat_n));
    float* img = be.scratch(static_cast<size_t>(out.pixels() * c.in_channels));
    if (scaled) {
      const std::vector<float> host = scale_latent(latent, lat_n, c.scaling_factor);
      be.upload(nchw, host.data(), host.size());
    } else {
      be.upload(nchw, latent, static_cast<size_t>(lat_n));
    }
    be.patchify(nchw, g.batch, c.latent_channels, g.height, g.width, 1, nhwc);
    dcae::run_decoder(be, c, *decoder, nhwc, g, img, vit_budget, capture_into(captures));
    be.download(image, img, static_cast<size_t>(out.pixels() * c.in_channels));
  }
};

DcAutoencoder::DcAutoencoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DcAutoencoder::DcAutoencoder(DcAutoencoder&&) noexcept = default;
DcAutoencoder& DcAutoencoder::operator=(DcAutoencoder&&) noexcept = default;
DcAutoencoder::~DcAutoencoder() = default;

const DcAeConfig& DcAutoencoder::config() const { return impl_->config; }
std::string DcAutoencoder::backend_name() const { return std::string(impl_->backend->name()); }
size_t DcAutoencoder::weight_bytes() const { return impl_->bytes; }
bool DcAutoencoder::has_encoder() const { return impl_->encoder.has_value(); }
bool DcAutoencoder::has_decoder() const { return impl_->decoder.has_value(); }
size_t DcAutoencoder::workspace_bytes() const { return impl_->backend->scratch_bytes(); }
size_t DcAutoencoder::workspace_allocations() const { return impl_->backend->scratch_system_allocations(); }

DcAutoencoder DcAutoencoder::load(const fs::path& dir, const DcAeLoadOptions& options) {
  // Accept the vae/ folder itself or a pipeline folder containing one.
  const fs::path folder = fs::is_regular_file(dir / "config.json") ? dir : dir / "vae";
  check(fs::is_regular_file(folder / "config.json"),
        "vae: no config.json in " + dir.string() + " or " + (dir / "vae").string());
  const DcAeConfig config = DcAeConfig::from_json(read_json_file(folder / "config.json"));
  const Checkpoint checkpoint = Checkpoint::open_dir(folder);
  return build(
      config, [&](const std::string& name, const Shape& shape) { return checkpoint.load_f32(name, shape); }, options);
}

DcAutoencoder DcAutoencoder::build(const DcAeConfig& config, const DcAeWeightSource& weights,
                                   const DcAeLoadOptions& options) {
  check(options.encoder || options.decoder, "vae: build at least one of encoder and decoder");
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->backend = make_backend(options.backend);
  impl->vit_budget = static_cast<int64_t>(options.vit_scratch_bytes / sizeof(float));
  if (options.encoder) impl->encoder = dcae::load_encoder(impl->config, weights, *impl->backend, impl->bytes);
  if (options.decoder) impl->decoder = dcae::load_decoder(impl->config, weights, *impl->backend, impl->bytes);
  return DcAutoencoder(std::move(impl));
}

Tensor DcAutoencoder::decode(const float* latent, int64_t batch, int64_t height, int64_t width, bool scaled,
                             DcAeCaptures* captures) {
  check_grid("vae decode", batch, height, width);
  const int64_t f = impl_->config.spatial_compression(), ch = impl_->config.in_channels;
  const Grid out{batch, height * f, width * f};
  std::vector<float> nhwc(static_cast<size_t>(out.pixels() * ch));
  impl_->decode_into(latent, {batch, height, width}, scaled, nhwc.data(), captures);
  return nhwc_to_nchw(nhwc.data(), out, ch);
}

size_t DcAutoencoder::decode_workspace_bytes(int64_t batch, int64_t height, int64_t width) const {
  check_grid("vae decode_workspace_bytes", batch, height, width);
  check(impl_->decoder.has_value(), "vae: this autoencoder was loaded without its decoder");
  const int64_t floats =
      dcae::decoder_workspace_floats(impl_->config, *impl_->decoder, {batch, height, width}, impl_->vit_budget);
  return static_cast<size_t>(floats) * sizeof(float);
}

Tensor DcAutoencoder::decode_image(const float* latent, int64_t batch, int64_t height, int64_t width,
                                   const DcAeDecodeOptions& options) {
  check_grid("vae decode", batch, height, width);
  check(impl_->decoder.has_value(), "vae: this autoencoder was loaded without its decoder");
  const DcAeConfig& c = impl_->config;
  const int64_t f = c.spatial_compression();
  Tensor image({batch, height * f, width * f, c.in_channels});
  bool tiled = options.tiling == DcAeDecodeOptions::Tiling::On;
  if (options.tiling == DcAeDecodeOptions::Tiling::Auto)
    tiled = decode_workspace_bytes(batch, height, width) > options.auto_tile_bytes;
  if (!tiled) {
    impl_->decode_into(latent, {batch, height, width}, options.scaled, image.data(), nullptr);
    return image;
  }
  std::vector<float> scaled_latent;
  if (options.scaled) {
    scaled_latent = scale_latent(latent, batch * c.latent_channels * height * width, c.scaling_factor);
    latent = scaled_latent.data();
  }
  std::lock_guard lock(impl_->mutex);
  dcae::decode_tiled(*impl_->backend, c, *impl_->decoder, latent, {batch, height, width}, options.tiles.tile_latent,
                     impl_->vit_budget, image.data(), options.progress);
  return image;
}

Tensor DcAutoencoder::encode(const float* image, int64_t batch, int64_t height, int64_t width, bool scaled,
                             DcAeCaptures* captures) {
  check_grid("vae encode", batch, height, width);
  Impl& m = *impl_;
  check(m.encoder.has_value(), "vae: this autoencoder was loaded without its encoder");
  const DcAeConfig& c = m.config;
  const int64_t f = c.spatial_compression();
  check(height % f == 0 && width % f == 0, "vae encode: image size " + std::to_string(height) + "x" +
                                               std::to_string(width) + " is not a multiple of " + std::to_string(f));
  const Grid in{batch, height, width}, lat{batch, height / f, width / f};
  const int64_t in_n = in.pixels() * c.in_channels, lat_n = lat.pixels() * c.latent_channels;

  std::lock_guard lock(m.mutex);
  Backend& be = *m.backend;
  be.reset_scratch();
  float* nchw = be.scratch(static_cast<size_t>(in_n));
  float* nhwc = be.scratch(static_cast<size_t>(in_n));
  float* latent = be.scratch(static_cast<size_t>(lat_n));
  be.upload(nchw, image, static_cast<size_t>(in_n));
  be.patchify(nchw, batch, c.in_channels, height, width, 1, nhwc);
  dcae::run_encoder(be, c, *m.encoder, nhwc, in, latent, m.vit_budget, m.capture_into(captures));
  std::vector<float> host(static_cast<size_t>(lat_n));
  be.download(host.data(), latent, host.size());
  if (scaled) {
    const float sf = static_cast<float>(c.scaling_factor);
    for (float& v : host) v *= sf;
  }
  return nhwc_to_nchw(host.data(), lat, c.latent_channels);
}

void DcAutoencoder::ensure_preview() {
  check(impl_->decoder.has_value(), "vae: this autoencoder was loaded without its decoder");
  std::call_once(impl_->preview_once, [this] { impl_->preview = dcae::fit_preview(*this); });
}

Tensor DcAutoencoder::preview(const float* latent, int64_t batch, int64_t height, int64_t width, bool scaled) {
  check_grid("vae preview", batch, height, width);
  ensure_preview();
  if (!scaled) return dcae::apply_preview(impl_->preview, latent, batch, height, width);
  const std::vector<float> raw =
      scale_latent(latent, batch * impl_->config.latent_channels * height * width, impl_->config.scaling_factor);
  return dcae::apply_preview(impl_->preview, raw.data(), batch, height, width);
}

DcAePreviewStats DcAutoencoder::preview_stats() {
  ensure_preview();
  return impl_->preview.stats;
}

}  // namespace sana
