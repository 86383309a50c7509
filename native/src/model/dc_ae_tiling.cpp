#include "model/dc_ae_tiling.h"

#include <algorithm>
#include <string>
#include <vector>

#include "sana/error.h"

namespace sana::dcae {

int64_t tail_halo(const DecoderWeights& w) {
  const size_t n = w.stages.size(), split = decoder_split(w), top = std::min(split, n - 1);
  // Receptive radius in output pixels, accumulated from the image back to the tail's input:
  // each conv adds kernel/2 pixels at its stage's resolution, and each nearest 2x upsample
  // can shift the footprint by one more pixel there.
  int64_t radius = w.conv_out.kernel / 2;
  for (size_t i = 0; i < split; ++i) {
    int64_t r = 0;
    const StageWeights& s = w.stages[i];
    if (s.has_resample) r += s.resample.kernel / 2 + 1;
    for (const BlockWeights& b : s.blocks) {
      const auto& res = std::get<ResBlockWeights>(b);  // the tail holds ResBlocks only
      r += res.conv1.kernel / 2 + res.conv2.kernel / 2;
    }
    radius += r << i;
  }
  const int64_t scale = int64_t{1} << top;
  const int64_t halo = (radius + scale - 1) / scale + 1;
  // Even, so that (tiles being even too) every crop starts on a multiple of 4 pixels at the
  // tail's stages, where the Winograd convs work in 4x4 output tiles: a crop is then tiled
  // as the whole image is, and its pixels get the whole decode's roundings.
  return halo + (halo & 1);
}

void decode_tiled(Backend& be, const DcAeConfig& c, const DecoderWeights& w, const float* latent, Grid grid,
                  int64_t tile_latent, int64_t vit_budget, float* image, const DcAeDecodeOptions::Progress& progress) {
  check(tile_latent > 0, "vae tiled decode: the tile size must be positive");
  const size_t n = w.stages.size(), split = decoder_split(w), top = std::min(split, n - 1);
  const int64_t channels = split < n ? w.stages[split].channels : w.stages.back().channels;
  const int64_t up = int64_t{1} << top;  // tail input pixel -> output pixels
  const int64_t out_ch = c.in_channels;

  // ---- the head, once, on the whole latent -------------------------------------------------
  be.reset_scratch();
  const int64_t lat_n = grid.pixels() * c.latent_channels;
  float* nchw = be.scratch(static_cast<size_t>(lat_n));
  float* nhwc = be.scratch(static_cast<size_t>(lat_n));
  const Grid mid = decoder_stage_grid(w, grid, top);
  float* mid_dev = be.scratch(static_cast<size_t>(mid.pixels() * channels));
  be.upload(nchw, latent, static_cast<size_t>(lat_n));
  be.patchify(nchw, grid.batch, c.latent_channels, grid.height, grid.width, 1, nhwc);
  run_decoder_head(be, c, w, nhwc, grid, mid_dev, vit_budget, {});
  std::vector<float> mid_host(static_cast<size_t>(mid.pixels() * channels));
  be.download(mid_host.data(), mid_dev, mid_host.size());

  // ---- the tail, tile by tile, each with a halo that covers its receptive field -------------
  const int64_t tile = tile_latent * (mid.height / grid.height), halo = tail_halo(w);
  const int64_t out_h = mid.height * up, out_w = mid.width * up;
  std::vector<float> crop_host, out_host;
  const int64_t total = ((mid.height + tile - 1) / tile) * ((mid.width + tile - 1) / tile);
  int64_t done = 0;
  for (int64_t y0 = 0; y0 < mid.height; y0 += tile) {
    for (int64_t x0 = 0; x0 < mid.width; x0 += tile) {
      const int64_t y1 = std::min(mid.height, y0 + tile), x1 = std::min(mid.width, x0 + tile);
      const int64_t cy0 = std::max<int64_t>(0, y0 - halo), cy1 = std::min(mid.height, y1 + halo);
      const int64_t cx0 = std::max<int64_t>(0, x0 - halo), cx1 = std::min(mid.width, x1 + halo);
      const Grid crop{grid.batch, cy1 - cy0, cx1 - cx0};
      crop_host.resize(static_cast<size_t>(crop.pixels() * channels));
      for (int64_t b = 0; b < grid.batch; ++b)
        for (int64_t y = cy0; y < cy1; ++y) {
          const float* src = mid_host.data() + ((b * mid.height + y) * mid.width + cx0) * channels;
          std::copy(src, src + crop.width * channels,
                    crop_host.data() + ((b * crop.height + y - cy0) * crop.width) * channels);
        }
      be.reset_scratch();
      float* crop_dev = be.scratch(crop_host.size());
      const int64_t ch = crop.height * up, cw = crop.width * up;
      float* out_dev = be.scratch(static_cast<size_t>(grid.batch * ch * cw * out_ch));
      be.upload(crop_dev, crop_host.data(), crop_host.size());
      run_decoder_tail(be, c, w, crop_dev, crop, out_dev, vit_budget);
      out_host.resize(static_cast<size_t>(grid.batch * ch * cw * out_ch));
      be.download(out_host.data(), out_dev, out_host.size());
      // Keep the tile's own pixels; the halo only fed them.
      for (int64_t b = 0; b < grid.batch; ++b)
        for (int64_t y = y0 * up; y < y1 * up; ++y) {
          const float* src = out_host.data() + ((b * ch + y - cy0 * up) * cw + (x0 - cx0) * up) * out_ch;
          std::copy(src, src + (x1 - x0) * up * out_ch, image + ((b * out_h + y) * out_w + x0 * up) * out_ch);
        }
      if (progress && !progress(++done, total)) return;
    }
  }
}

}  // namespace sana::dcae
