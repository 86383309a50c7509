#pragma once
// Tiled decoding: the latent is cut into overlapping tiles, each decoded alone, and the
// tiles' images are cross-faded where they overlap, so memory depends on the tile size only.
//
// Unlike diffusers' tiled_decode (fixed stride, blending only the top/left edges of each
// tile), tiles here all have the full size and are spread evenly so the last one ends at
// the border, and every overlap is blended with linear weights that sum to one at every
// pixel, so no region is over- or under-weighted.
#include <cstdint>
#include <functional>
#include <vector>

#include "model/dc_ae_blocks.h"

namespace sana::dcae {

struct TileSpan {
  int64_t start = 0, size = 0;  // latent pixels
};

// Tiles along one axis of `length` latent pixels: one tile when it fits, otherwise tiles of
// exactly `tile`, overlapping by at least `overlap`, first at 0 and last ending at length.
std::vector<TileSpan> tile_spans(int64_t length, int64_t tile, int64_t overlap);

// Each tile's blend weight for each of its image pixels (factor per latent pixel) along one
// axis: linear ramps across overlaps, normalised so the tiles' weights sum to one.
std::vector<std::vector<float>> blend_weights(const std::vector<TileSpan>& spans, int64_t factor);

// Decodes one latent tile (NCHW host, `grid`) into an NHWC host image.
using TileDecoder = std::function<void(const float* latent, Grid grid, float* image)>;

// latent: NCHW host (grid, channels); image: NHWC host (grid * factor, out_channels),
// overwritten.
void decode_tiled(const float* latent, int64_t channels, Grid grid, int64_t factor, int64_t out_channels,
                  int64_t tile, int64_t overlap, const TileDecoder& decode_tile, float* image);

}  // namespace sana::dcae
