#pragma once
// Passes of DC-AE's encoder and decoder on a Backend: inputs and outputs are backend memory
// in NHWC; workspaces come from the backend's scratch (the caller resets it). `vit_budget`
// caps each EfficientViTBlock's scratch in floats (0 = no cap; see Workspace).
//
// The decoder splits in two at `split`, the finest stage with an EfficientViTBlock:
//   head = conv_in + stages n-1 .. split  (low resolution; global linear attention)
//   tail = stages split-1 .. 0 + norm_out + act + conv_out  (high resolution; only convs)
// The tail is local (each output pixel sees a bounded neighbourhood), which is what makes
// exact tiled decoding possible (dc_ae_tiling.h).
#include "model/dc_ae_blocks.h"

namespace sana::dcae {

// Decoder.forward: latent (grid, latent_channels) -> image (grid * 2^(stages-1), in_channels).
void run_decoder(Backend& be, const DcAeConfig& config, const DecoderWeights& weights, const float* latent,
                 Grid grid, float* image, int64_t vit_budget, const CaptureFn& capture);
// Floats of scratch run_decoder takes at `grid` (the latent grid).
int64_t decoder_workspace_floats(const DcAeConfig& config, const DecoderWeights& weights, Grid grid,
                                 int64_t vit_budget);

// Index of the finest stage holding an EfficientViTBlock (the number of stages when none
// does): the tail is stages split-1 .. 0.
size_t decoder_split(const DecoderWeights& weights);
// Grid of stage i for a latent grid.
Grid decoder_stage_grid(const DecoderWeights& weights, Grid latent, size_t stage);

// The head alone: writes the activation entering stage split-1, (stage grid of split,
// channels of stage split), to `out`; returns its grid.
Grid run_decoder_head(Backend& be, const DcAeConfig& config, const DecoderWeights& weights, const float* latent,
                      Grid grid, float* out, int64_t vit_budget, const CaptureFn& capture);
// The tail alone, from that activation (`grid` = its grid) to the image.
void run_decoder_tail(Backend& be, const DcAeConfig& config, const DecoderWeights& weights, const float* in,
                      Grid grid, float* image, int64_t vit_budget);

// Encoder.forward: image (grid, in_channels) -> latent (grid / 2^(stages-1), latent_channels).
void run_encoder(Backend& be, const DcAeConfig& config, const EncoderWeights& weights, const float* image, Grid grid,
                 float* latent, int64_t vit_budget, const CaptureFn& capture);

}  // namespace sana::dcae
