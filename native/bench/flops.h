#pragma once
// Explicit FLOP counts of one SanaTransformer2DModel pass (multiply-add = 2 FLOPs), split the
// way the engine splits the work: the caption side (once per prompt batch with TextContext,
// every step in diffusers) and the per-step forward.
#include <cstdint>

#include "sana/dit.h"

namespace sana::bench {

struct DitFlops {
  double gemm = 0;       // every Linear / 1x1 conv / patch conv
  double attention = 0;  // linear-attention and softmax-attention matmuls
  double conv = 0;       // depthwise 3x3
  double total() const { return gemm + attention + conv; }
};

// batch latent items of h x w latent pixels against `text_batch` prompts of `tokens` tokens.
DitFlops forward_flops(const DitConfig& c, int64_t batch, int64_t h, int64_t w, int64_t tokens);
DitFlops text_flops(const DitConfig& c, int64_t text_batch, int64_t tokens);

}  // namespace sana::bench
