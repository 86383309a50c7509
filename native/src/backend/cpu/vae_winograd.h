#pragma once
// Winograd F(4x4, 3x3) convolution for DC-AE's dense 3x3 convs (stride 1, one group), with
// the decoder's nearest 2x upsample fused in: 36 multiplies per 4x4 output tile and channel
// pair instead of 144, so 4x fewer FLOPs than im2col + GEMM for the convs that make up
// almost all of a decode. The transforms' constants are small (+-1, 2, 4, 5, 8 and 1/4,
// 1/6, 1/12, 1/24), which keeps the float32 result within a few 1e-7 relative of the
// direct sum on the real model (F(2x2, 3x3), 2.25x, with SANA_VAE_CONV=winograd2).
#include <cstdint>

#include "backend/backend.h"
#include "sana/thread_pool.h"

namespace sana::cpu {

// Whether conv2d should take the Winograd path for this shape (SANA_VAE_CONV=im2col turns it
// off for the whole process, for comparisons; read once).
bool winograd_applies(const Backend::Conv2dShape& s);

// y = act(conv3x3(upsample(x)) + bias) on NHWC data; weight rows (out, ky, kx, in).
void winograd_conv3x3(ThreadPool& pool, const float* x, const Backend::Conv2dShape& s, const float* weight,
                      const float* bias, Activation act, float* y);

}  // namespace sana::cpu
