#pragma once
// The host-side embeddings of the DiT: small tables computed on the CPU with the exact
// float/double rounding of diffusers, then uploaded to the backend.
#include <cstdint>
#include <vector>

namespace sana::dit {

// diffusers get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0):
// per value, [cos(t f_i) | sin(t f_i)], f_i = exp(-ln(10000) i / 128) in float32.
std::vector<float> timestep_embedding(const float* t, int64_t n, int64_t channels = 256);

// diffusers get_2d_sincos_pos_embed for a (h, w) token grid (PatchEmbed, pos_embed_type
// "sincos"): (h*w, dim), channels [0, dim/2) from the x coordinate and [dim/2, dim) from y.
std::vector<float> sincos_pos_embed(int64_t dim, int64_t h, int64_t w, int64_t base_size, double interpolation_scale);

}  // namespace sana::dit
