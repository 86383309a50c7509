#pragma once
// The latent -> RGB preview: RGB (in the decoder's [-1, 1] range) of each latent pixel as
// an affine map of its latent channels, fitted by least squares to the decoder's own images.
#include <cstdint>
#include <vector>

#include "sana/dc_ae.h"

namespace sana::dcae {

struct PreviewMap {
  int64_t channels = 0;
  std::vector<double> coefficients;  // (channels + 1) x 3: one row per channel, then the bias row
  DcAePreviewStats stats;
};

// Decodes a few random latents with `vae` (untiled) and fits the map.
PreviewMap fit_preview(DcAutoencoder& vae);

// latent: NCHW raw (batch, channels, h, w) -> NHWC (batch, h, w, 3) in [0, 1].
Tensor apply_preview(const PreviewMap& map, const float* latent, int64_t batch, int64_t height, int64_t width);

}  // namespace sana::dcae
