#pragma once
// Seeded random weights for any DitConfig, built in memory: benchmarks run the real model
// shapes without a checkpoint on disk. Scales follow PyTorch's defaults closely enough to
// keep activations O(1) through 28 layers (uniform +-1/sqrt(fan_in), norms near 1).
#include <cstdint>

#include "sana/dit.h"

namespace sana::bench {

DitWeightSource random_weights(uint64_t seed);

// Fills n floats with a seeded, unit-variance bell-shaped sequence times `scale`.
void fill_random(float* out, int64_t n, uint64_t seed, float scale);

}  // namespace sana::bench
