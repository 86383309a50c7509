#pragma once
// Every weight of SanaTransformer2DModel, in backend memory, rearranged once at load for
// the kernels: q/k/v (and cross k/v) concatenated into one GEMM each, 1x1 convs as Linear
// weights, the depthwise 3x3 kernel tap-major.
#include <vector>

#include "backend/backend.h"
#include "sana/dit.h"

namespace sana::dit {

struct MlpWeights {  // diffusers TimestepEmbedding: Linear -> SiLU -> Linear
  Buffer w1, b1, w2, b2;
};

struct LayerWeights {
  Buffer scale_shift_table;  // (6, D)
  // attn1 (linear attention)
  Buffer qkv_w;              // (3 * inner, D): to_q; to_k; to_v
  Buffer qkv_b;              // (3 * inner) when attention_bias, else empty
  Buffer norm_q, norm_k;     // (inner) when qk_norm
  Buffer out_w, out_b;       // to_out.0
  // attn2 (cross-attention)
  Buffer xq_w, xq_b;         // (cross_inner, D)
  Buffer xkv_w, xkv_b;       // (2 * cross_inner, D): to_k; to_v
  Buffer xnorm_q, xnorm_k;   // (cross_inner) when qk_norm
  Buffer xout_w, xout_b;     // (D, cross_inner)
  // ff (GLUMBConv)
  Buffer inv_w, inv_b;       // conv_inverted as Linear (2 * hidden, D)
  Buffer dw_w, dw_b;         // conv_depth tap-major (9, 2 * hidden)
  Buffer point_w;            // conv_point as Linear (D, hidden), no bias
};

struct Weights {
  Buffer patch_w, patch_b;  // (D, C * p * p)
  MlpWeights timestep;      // 256 -> D -> D
  MlpWeights guidance;      // Sprint only
  Buffer adaln_w, adaln_b;  // time_embed.linear (6D, D)
  Buffer cap1_w, cap1_b, cap2_w, cap2_b;  // caption_projection
  Buffer cap_norm;                        // caption_norm weight (D)
  std::vector<LayerWeights> layers;
  Buffer final_table;       // scale_shift_table (2, D)
  Buffer proj_w, proj_b;    // proj_out (p * p * out_channels, D)
  size_t bytes = 0;
};

Weights load_weights(const DitConfig& config, const DitWeightSource& source, Backend& backend);

}  // namespace sana::dit
