// ResBlock and EfficientViTBlock (diffusers autoencoder_dc.py) on NHWC images.
//   ResBlock:          x += RMSNorm(conv2(act(conv1(x))))
//   EfficientViTBlock: x += RMSNorm(to_out(multi-scale ReLU attention(x)))
//                      x += RMSNorm(GLUMBConv(x))
#include "model/dc_ae_blocks.h"

#include <algorithm>
#include <type_traits>

namespace sana::dcae {

namespace {

void res_block(Backend& be, const ResBlockWeights& w, Grid g, float* x, const Workspace& ws) {
  float* t1 = ws.act[1];
  float* t2 = ws.act[2];
  conv(be, w.conv1, g, x, t1, 1, 1, w.act);
  conv(be, w.conv2, g, t1, t2);
  be.rms_norm_affine(t2, g.pixels(), w.conv2.out, w.norm.w.data(), w.norm.b.data(), kNormEps, x, x);
}

// SanaMultiscaleAttnProcessor2_0 + to_out + norm_out + residual, then GLUMBConv + norm +
// residual. Channel groups follow the reference's reshape of cat([q|k|v, branches]) into
// (B, groups, 3 * head_dim, H * W): group g of each part reads its q, k and v from
// consecutive head_dim-wide column blocks of that part's [Q|K|V] layout.
void vit_block(Backend& be, const VitBlockWeights& w, int64_t channels, int64_t head_dim, Grid g, float* x,
               const Workspace& ws) {
  const int64_t m = g.pixels(), n = g.height * g.width, inner = w.inner, qkv_cols = 3 * inner;
  const int64_t parts = 1 + static_cast<int64_t>(w.scales.size()), att_cols = parts * inner;
  const bool quadratic = n <= head_dim;  // the processor's switch: linear only when H * W > head_dim
  float* tmp = ws.act[1];
  float* qkv = ws.vit;
  float* branch_a = qkv + m * qkv_cols;
  float* branch_b = branch_a + m * qkv_cols;
  float* att = branch_b + m * qkv_cols;

  be.linear(x, m, channels, w.qkv_w.data(), qkv_cols, nullptr, Activation::None, qkv);
  be.relu_group_attention(qkv, qkv_cols, g.batch, n, w.heads, head_dim, quadratic, att, att_cols);
  for (size_t s = 0; s < w.scales.size(); ++s) {
    const MultiscaleWeights& ms = w.scales[s];
    be.depthwise_conv2d(qkv, g.batch, g.height, g.width, qkv_cols, ms.kernel, ms.proj_in.data(), nullptr, branch_a);
    conv(be, ms.proj_out, g, branch_a, branch_b);
    be.relu_group_attention(branch_b, qkv_cols, g.batch, n, w.heads, head_dim, quadratic,
                            att + static_cast<int64_t>(s + 1) * inner, att_cols);
  }
  be.linear(att, m, att_cols, w.out_w.data(), channels, nullptr, Activation::None, tmp);
  be.rms_norm_affine(tmp, m, channels, w.attn_norm.w.data(), w.attn_norm.b.data(), kNormEps, x, x);

  float* expanded = ws.vit;
  float* gated = expanded + m * 2 * w.hidden;
  be.linear(x, m, channels, w.inv_w.data(), 2 * w.hidden, w.inv_b.data(), Activation::SiLU, expanded);
  be.dwconv3x3_glu(expanded, g.batch, g.height, g.width, w.hidden, w.dw_w.data(), w.dw_b.data(), gated);
  be.linear(gated, m, w.hidden, w.point_w.data(), channels, nullptr, Activation::None, tmp);
  be.rms_norm_affine(tmp, m, channels, w.mlp_norm.w.data(), w.mlp_norm.b.data(), kNormEps, x, x);
}

}  // namespace

void WorkspacePlan::activation(int64_t pixels, int64_t channels) { act_ = std::max(act_, pixels * channels); }

void WorkspacePlan::stage(const StageWeights& stage, int64_t pixels) {
  activation(pixels, stage.channels);
  for (const BlockWeights& b : stage.blocks) {
    if (const auto* v = std::get_if<VitBlockWeights>(&b)) {
      const int64_t parts = 1 + static_cast<int64_t>(v->scales.size());
      const int64_t attention = pixels * (3 * 3 * v->inner + parts * v->inner);
      const int64_t mlp = pixels * 3 * v->hidden;
      vit_ = std::max({vit_, attention, mlp});
    }
  }
}

Workspace WorkspacePlan::allocate(Backend& backend) const {
  Workspace ws;
  for (float*& a : ws.act) a = backend.scratch(static_cast<size_t>(act_));
  ws.vit = backend.scratch(static_cast<size_t>(vit_));
  return ws;
}

Grid conv(Backend& be, const ConvWeights& w, Grid in, const float* x, float* y, int64_t stride, int64_t upsample,
          Activation act) {
  Backend::Conv2dShape s;
  s.batch = in.batch;
  s.height = in.height;
  s.width = in.width;
  s.in_channels = w.in;
  s.out_channels = w.out;
  s.kernel = w.kernel;
  s.stride = stride;
  s.groups = w.groups;
  s.upsample = upsample;
  be.conv2d(x, s, w.w.data(), w.b.empty() ? nullptr : w.b.data(), act, y);
  return {in.batch, s.out_height(), s.out_width()};
}

void run_blocks(Backend& be, const StageWeights& stage, int64_t head_dim, Grid grid, float* x, const Workspace& ws) {
  for (const BlockWeights& b : stage.blocks) {
    std::visit(
        [&](const auto& w) {
          if constexpr (std::is_same_v<std::decay_t<decltype(w)>, ResBlockWeights>)
            res_block(be, w, grid, x, ws);
          else
            vit_block(be, w, stage.channels, head_dim, grid, x, ws);
        },
        b);
  }
}

}  // namespace sana::dcae
