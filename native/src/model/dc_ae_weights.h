#pragma once
// Every weight of AutoencoderDC in backend memory, rearranged once at load for the NHWC
// kernels: conv kernels with the input-channel axis last, depthwise kernels tap-major,
// to_q / to_k / to_v stacked into one projection, 1x1 convs as Linear weights.
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "backend/backend.h"
#include "sana/dc_ae.h"

namespace sana::dcae {

// Supplies a weight by its diffusers name, widened to float32 and of exactly `shape`.
using WeightSource = std::function<Tensor(const std::string& name, const Shape& shape)>;

struct ConvWeights {
  Buffer w;  // (out, kernel * kernel * in / groups), rows ordered (ky, kx, ci)
  Buffer b;  // (out), or empty when the conv has no bias
  int64_t in = 0, out = 0, kernel = 3, groups = 1;
};

struct NormWeights {  // RMSNorm(elementwise_affine, bias)
  Buffer w, b;
};

struct ResBlockWeights {
  ConvWeights conv1;  // 3x3 with bias, then act
  ConvWeights conv2;  // 3x3 without bias
  NormWeights norm;
  Activation act = Activation::SiLU;
};

struct MultiscaleWeights {  // SanaMultiscaleAttentionProjection of one kernel size
  int64_t kernel = 5;
  Buffer proj_in;      // depthwise, tap-major (kernel * kernel, 3 * inner), no bias
  ConvWeights proj_out;  // 1x1, groups = 3 * heads, no bias
};

struct VitBlockWeights {  // EfficientViTBlock
  int64_t heads = 0, inner = 0, hidden = 0;
  Buffer qkv_w;  // (3 * inner, C): to_q; to_k; to_v (no bias)
  std::vector<MultiscaleWeights> scales;
  Buffer out_w;  // to_out (C, (1 + scales) * inner), no bias
  NormWeights attn_norm;
  Buffer inv_w, inv_b;  // GLUMBConv conv_inverted as Linear (2 * hidden, C)
  Buffer dw_w, dw_b;    // conv_depth tap-major (9, 2 * hidden)
  Buffer point_w;       // conv_point as Linear (C, hidden), no bias
  NormWeights mlp_norm;
};

using BlockWeights = std::variant<ResBlockWeights, VitBlockWeights>;

struct StageWeights {
  int64_t channels = 0;
  std::vector<BlockWeights> blocks;
  bool has_resample = false;
  ConvWeights resample;  // decoder: DCUpBlock2d conv (before the blocks); encoder: DCDownBlock2d conv (after)
};

struct EncoderWeights {
  ConvWeights conv_in;
  std::vector<StageWeights> stages;
  ConvWeights conv_out;
};

struct DecoderWeights {
  ConvWeights conv_in;
  std::vector<StageWeights> stages;
  NormWeights norm_out;
  ConvWeights conv_out;
};

EncoderWeights load_encoder(const DcAeConfig& config, const WeightSource& source, Backend& backend, size_t& bytes);
DecoderWeights load_decoder(const DcAeConfig& config, const WeightSource& source, Backend& backend, size_t& bytes);

}  // namespace sana::dcae
