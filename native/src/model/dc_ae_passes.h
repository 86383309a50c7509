#pragma once
// One pass of DC-AE's encoder or decoder on a Backend: input and output are backend memory
// in NHWC; the workspace comes from the backend's scratch (the caller resets it).
#include "model/dc_ae_blocks.h"

namespace sana::dcae {

// Decoder.forward: latent (grid, latent_channels) -> image (grid * 2^(stages-1), in_channels).
void run_decoder(Backend& be, const DcAeConfig& config, const DecoderWeights& weights, const float* latent,
                 Grid grid, float* image, const CaptureFn& capture);
// Floats of scratch run_decoder takes at `grid` (the latent grid).
int64_t decoder_workspace_floats(const DcAeConfig& config, const DecoderWeights& weights, Grid grid);

// Encoder.forward: image (grid, in_channels) -> latent (grid / 2^(stages-1), latent_channels).
void run_encoder(Backend& be, const DcAeConfig& config, const EncoderWeights& weights, const float* image, Grid grid,
                 float* latent, const CaptureFn& capture);

}  // namespace sana::dcae
