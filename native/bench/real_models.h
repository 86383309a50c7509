#pragma once
// The real SANA family's shapes with seeded random weights, built in memory: the
// benchmarks' models (no checkpoint on disk).
#include <cstdint>

#include "sana/dc_ae.h"
#include "sana/dit.h"
#include "sana/gemma2.h"

namespace sana::bench {

// gemma-2-2b-it's text_encoder/config.json, with a smaller embedding table (an encode reads
// only its prompt's rows, so the table's size changes no timing).
Gemma2Config gemma2_2b(int64_t vocab, int64_t layers);
// bench::random_weights' uniform +-1/sqrt(fan_in) matrices; Gemma's RMSNorm weights are
// stored as w with the factor 1 + w, so they get small values around 0.
Gemma2WeightSource gemma_random_weights(uint64_t seed);

// Multiply-adds x 2 of one Gemma encode, as the engine does them: every projection, and the
// attention products over the keys each query can see (causal; windowed on sliding layers).
struct EncodeFlops {
  double gemm = 0, attention = 0;
  double total() const { return gemm + attention; }
};
EncodeFlops encode_flops(const Gemma2Config& c, int64_t batch, int64_t tokens);

// dc-ae-f32c32-sana-1.1 weights: PyTorch-like scales (uniform +-1/sqrt(fan_in) convs and
// linears, RMSNorm weights near 1, small biases), so activations stay O(1) through the 30
// blocks.
DcAeWeightSource random_vae_weights();

// SANA-1.6B at 4K: 20 layers, 70 x 32 heads, cross-attention 20 x 112 (no positional table:
// a one-time cost per shape that does not change a step's time).
DitConfig sana_1600m_4k();

}  // namespace sana::bench
