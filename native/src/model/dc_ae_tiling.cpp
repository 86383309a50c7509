#include "model/dc_ae_tiling.h"

#include <algorithm>
#include <string>

#include "sana/error.h"

namespace sana::dcae {

std::vector<TileSpan> tile_spans(int64_t length, int64_t tile, int64_t overlap) {
  check(tile > 0 && overlap >= 0 && overlap < tile,
        "vae tiling: the overlap (" + std::to_string(overlap) + ") must be smaller than the tile (" +
            std::to_string(tile) + ")");
  if (length <= tile) return {{0, length}};
  const int64_t stride = tile - overlap;
  const int64_t count = 1 + (length - tile + stride - 1) / stride;
  std::vector<TileSpan> spans;
  for (int64_t i = 0; i < count; ++i) {
    // Even spacing, rounded to whole latent pixels: strides differ by at most one.
    const int64_t start = (i * (length - tile) + (count - 1) / 2) / (count - 1);
    spans.push_back({start, tile});
  }
  return spans;
}

std::vector<std::vector<float>> blend_weights(const std::vector<TileSpan>& spans, int64_t factor) {
  const size_t n = spans.size();
  const int64_t total = (spans.back().start + spans.back().size) * factor;
  std::vector<std::vector<float>> raw(n);
  std::vector<double> sum(static_cast<size_t>(total), 0.0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t start = spans[i].start * factor, size = spans[i].size * factor;
    // Ramp lengths: the image pixels this tile shares with its neighbours.
    const int64_t left = i > 0 ? spans[i - 1].start * factor + spans[i - 1].size * factor - start : 0;
    const int64_t right = i + 1 < n ? start + size - spans[i + 1].start * factor : 0;
    raw[i].resize(static_cast<size_t>(size));
    for (int64_t p = 0; p < size; ++p) {
      double w = 1.0;
      if (left > 0) w = std::min(w, (static_cast<double>(p) + 0.5) / static_cast<double>(left));
      if (right > 0) w = std::min(w, (static_cast<double>(size - p) - 0.5) / static_cast<double>(right));
      raw[i][p] = static_cast<float>(w);
      sum[start + p] += w;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t start = spans[i].start * factor;
    for (size_t p = 0; p < raw[i].size(); ++p)
      raw[i][p] = static_cast<float>(raw[i][p] / sum[static_cast<size_t>(start) + p]);
  }
  return raw;
}

void decode_tiled(const float* latent, int64_t channels, Grid grid, int64_t factor, int64_t out_channels,
                  int64_t tile, int64_t overlap, const TileDecoder& decode_tile, float* image) {
  const std::vector<TileSpan> ys = tile_spans(grid.height, tile, overlap);
  const std::vector<TileSpan> xs = tile_spans(grid.width, tile, overlap);
  const auto wy = blend_weights(ys, factor);
  const auto wx = blend_weights(xs, factor);
  const int64_t out_h = grid.height * factor, out_w = grid.width * factor;
  std::fill(image, image + grid.batch * out_h * out_w * out_channels, 0.0f);

  std::vector<float> tile_latent, tile_image;
  for (size_t ty = 0; ty < ys.size(); ++ty) {
    for (size_t tx = 0; tx < xs.size(); ++tx) {
      const Grid tg{grid.batch, ys[ty].size, xs[tx].size};
      tile_latent.resize(static_cast<size_t>(tg.pixels() * channels));
      for (int64_t b = 0; b < grid.batch; ++b)
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t y = 0; y < tg.height; ++y) {
            const float* src =
                latent + ((b * channels + c) * grid.height + ys[ty].start + y) * grid.width + xs[tx].start;
            std::copy(src, src + tg.width, tile_latent.data() + ((b * channels + c) * tg.height + y) * tg.width);
          }
      const int64_t th = tg.height * factor, tw = tg.width * factor;
      tile_image.resize(static_cast<size_t>(grid.batch * th * tw * out_channels));
      decode_tile(tile_latent.data(), tg, tile_image.data());

      const int64_t y0 = ys[ty].start * factor, x0 = xs[tx].start * factor;
      for (int64_t b = 0; b < grid.batch; ++b)
        for (int64_t y = 0; y < th; ++y) {
          const float row_w = wy[ty][y];
          const float* src = tile_image.data() + (b * th + y) * tw * out_channels;
          float* dst = image + ((b * out_h + y0 + y) * out_w + x0) * out_channels;
          for (int64_t x = 0; x < tw; ++x) {
            const float w = row_w * wx[tx][x];
            for (int64_t c = 0; c < out_channels; ++c) dst[x * out_channels + c] += w * src[x * out_channels + c];
          }
        }
    }
  }
}

}  // namespace sana::dcae
