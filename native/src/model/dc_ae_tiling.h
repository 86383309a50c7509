#pragma once
// Tiled decoding with the same result as a whole decode (to float rounding), in bounded
// memory.
//
// diffusers' AutoencoderDC.tiled_decode decodes overlapping latent tiles independently and
// cross-fades them. That changes the image everywhere, not just at seams: DC-AE's
// EfficientViT stages attend over the whole grid (ReLU linear attention sums over every
// token), so a tile sees different global statistics than the full image. Here the decoder
// is split where that stops (dc_ae_passes.h): the head (conv_in and the EfficientViT stages,
// at 1/8 of the output resolution and below for SANA) runs once on the whole latent, and
// only the tail (ResBlock stages and conv_out, where almost all the memory goes) is tiled.
// The tail is a stack of 3x3 convs, so each output pixel depends on a bounded neighbourhood:
// every tile is decoded with a halo at least that wide and only its centre is kept, which
// makes the tiles agree exactly with the whole decode and leaves no seams to blend.
#include <cstdint>

#include "model/dc_ae_passes.h"

namespace sana::dcae {

// Pixels of the tail's input grid that cover the tail's receptive field (with a margin).
int64_t tail_halo(const DecoderWeights& weights);

// latent: NCHW host (grid, latent_channels), already in the decoder's (raw) space; image:
// NHWC host (grid * 2^(stages-1), in_channels). `tile_latent`: tile edge in latent pixels.
// Resets and uses the backend's scratch. `progress` (if set) is called after each tile and
// stops the decode when it returns false.
void decode_tiled(Backend& be, const DcAeConfig& config, const DecoderWeights& weights, const float* latent,
                  Grid grid, int64_t tile_latent, int64_t vit_budget, float* image,
                  const DcAeDecodeOptions::Progress& progress = {});

}  // namespace sana::dcae
