#include "flops.h"

namespace sana::bench {

DitFlops forward_flops(const DitConfig& c, int64_t batch, int64_t h, int64_t w, int64_t tokens) {
  const double p = static_cast<double>(c.patch_size);
  const double B = static_cast<double>(batch), N = static_cast<double>(h * w) / (p * p), M = B * N;
  const double D = static_cast<double>(c.inner_dim()), X = static_cast<double>(c.cross_inner_dim());
  const double F = static_cast<double>(c.mlp_hidden()), L = static_cast<double>(tokens);
  const double hd = static_cast<double>(c.attention_head_dim), heads = static_cast<double>(c.num_attention_heads);
  DitFlops f;
  f.gemm += 2 * M * (static_cast<double>(c.in_channels) * p * p) * D;                      // patch embed
  f.gemm += 2 * B * (256 * D + D * D) * (c.guidance_embeds ? 2 : 1) + 2 * B * D * 6 * D;  // time embed
  for (int64_t i = 0; i < c.num_layers; ++i) {
    f.gemm += 2 * M * D * 3 * D + 2 * M * D * D;                     // qkv, to_out
    f.attention += B * heads * (4 * N * hd * hd + 3 * N * hd);       // K^T V (+ key sums), Q (K^T V), Q . ksum
    f.gemm += 2 * M * D * X + 2 * M * X * D;                         // cross q, to_out
    f.attention += 4 * M * L * X;                                    // Q K^T, P V
    f.gemm += 2 * M * D * 2 * F + 2 * M * F * D;                     // conv_inverted, conv_point
    f.conv += 2 * M * 2 * F * 9;                                     // depthwise 3x3
  }
  f.gemm += 2 * M * D * static_cast<double>(c.out_channels) * p * p;  // proj_out
  return f;
}

DitFlops text_flops(const DitConfig& c, int64_t text_batch, int64_t tokens) {
  const double R = static_cast<double>(text_batch * tokens);
  const double D = static_cast<double>(c.inner_dim()), X = static_cast<double>(c.cross_inner_dim());
  DitFlops f;
  f.gemm = 2 * R * static_cast<double>(c.caption_channels) * D + 2 * R * D * D;  // caption projection
  f.gemm += static_cast<double>(c.num_layers) * 2 * R * D * 2 * X;               // per-layer K and V
  return f;
}

}  // namespace sana::bench
