// ResBlock and EfficientViTBlock (diffusers autoencoder_dc.py) on NHWC images.
//   ResBlock:          x += RMSNorm(conv2(act(conv1(x))))
//   EfficientViTBlock: x += RMSNorm(to_out(multi-scale ReLU attention(x)))
//                      x += RMSNorm(GLUMBConv(x))
#include "model/dc_ae_blocks.h"

#include <algorithm>
#include <type_traits>
#include <vector>

namespace sana::dcae {

namespace {

void res_block(Backend& be, const ResBlockWeights& w, Grid g, float* x, const Workspace& ws) {
  float* t1 = ws.act[1];
  float* t2 = ws.act[2];
  conv(be, w.conv1, g, x, t1, 1, 1, w.act);
  conv(be, w.conv2, g, t1, t2);
  be.rms_norm_affine(t2, g.pixels(), w.conv2.out, w.norm.w.data(), w.norm.b.data(), kNormEps, x, x);
}

struct VitShape {
  int64_t qkv_cols, parts, att_cols, halo;  // halo: rows the widest multi-scale kernel reaches
  int64_t stats;                            // floats of the key summaries of all parts
};

VitShape vit_shape(const VitBlockWeights& w, int64_t head_dim) {
  VitShape s;
  s.qkv_cols = 3 * w.inner;
  s.parts = 1 + static_cast<int64_t>(w.scales.size());
  s.att_cols = s.parts * w.inner;
  s.halo = 0;
  for (const MultiscaleWeights& m : w.scales) s.halo = std::max(s.halo, m.kernel / 2);
  s.stats = s.parts * w.heads * (head_dim * head_dim + head_dim);
  return s;
}

// Scratch of the whole-image block: q|k|v, two branch buffers, the attention output; or
// GLUMBConv's 2 * hidden expanded and hidden gated channels.
int64_t whole_floats(const VitBlockWeights& w, const VitShape& s, int64_t pixels) {
  return std::max(pixels * (3 * s.qkv_cols + s.att_cols), pixels * 3 * w.hidden);
}

// Scratch of one band of `rows` image rows (of one image) with its halo rows.
int64_t band_floats(const VitBlockWeights& w, const VitShape& s, int64_t channels, int64_t width, int64_t rows) {
  const int64_t attention = s.stats + width * ((rows + 2 * s.halo) * 2 * s.qkv_cols +
                                               rows * (s.qkv_cols + s.att_cols + channels));
  const int64_t mlp = width * ((rows + 2) * 3 * w.hidden + rows * channels);
  return std::max(attention, mlp);
}

// SanaMultiscaleAttnProcessor2_0 + to_out + norm_out + residual, then GLUMBConv + norm +
// residual, on the whole image. Channel groups follow the reference's reshape of
// cat([q|k|v, branches]) into (B, groups, 3 * head_dim, H * W): group g of each part reads
// its q, k and v from consecutive head_dim-wide column blocks of that part's [Q|K|V] layout.
void vit_block(Backend& be, const VitBlockWeights& w, int64_t channels, int64_t head_dim, Grid g, float* x,
               const Workspace& ws) {
  const VitShape s = vit_shape(w, head_dim);
  const int64_t m = g.pixels(), n = g.height * g.width, inner = w.inner;
  const bool quadratic = n <= head_dim;  // the processor's switch: linear only when H * W > head_dim
  float* tmp = ws.act[1];
  float* qkv = ws.vit;
  float* branch_a = qkv + m * s.qkv_cols;
  float* branch_b = branch_a + m * s.qkv_cols;
  float* att = branch_b + m * s.qkv_cols;

  be.linear(x, m, channels, w.qkv_w.data(), s.qkv_cols, nullptr, Activation::None, qkv);
  be.relu_group_attention(qkv, s.qkv_cols, g.batch, n, w.heads, head_dim, quadratic, att, s.att_cols);
  for (size_t i = 0; i < w.scales.size(); ++i) {
    const MultiscaleWeights& ms = w.scales[i];
    be.depthwise_conv2d(qkv, g.batch, g.height, g.width, s.qkv_cols, ms.kernel, ms.proj_in.data(), nullptr, branch_a);
    conv(be, ms.proj_out, g, branch_a, branch_b);
    be.relu_group_attention(branch_b, s.qkv_cols, g.batch, n, w.heads, head_dim, quadratic,
                            att + static_cast<int64_t>(i + 1) * inner, s.att_cols);
  }
  be.linear(att, m, s.att_cols, w.out_w.data(), channels, nullptr, Activation::None, tmp);
  be.rms_norm_affine(tmp, m, channels, w.attn_norm.w.data(), w.attn_norm.b.data(), kNormEps, x, x);

  float* expanded = ws.vit;
  float* gated = expanded + m * 2 * w.hidden;
  be.linear(x, m, channels, w.inv_w.data(), 2 * w.hidden, w.inv_b.data(), Activation::SiLU, expanded);
  be.dwconv3x3_glu(expanded, g.batch, g.height, g.width, w.hidden, w.dw_w.data(), w.dw_b.data(), gated);
  be.linear(gated, m, w.hidden, w.point_w.data(), channels, nullptr, Activation::None, tmp);
  be.rms_norm_affine(tmp, m, channels, w.mlp_norm.w.data(), w.mlp_norm.b.data(), kNormEps, x, x);
}

// The same block in bands of `rows` image rows, for images whose whole-image scratch would
// be too large. Every op but the attention's key summary is local: a band plus `halo` rows
// each side (the depthwise kernels' reach) gives exact values on the band. The summary is
// global, so attention takes two sweeps: accumulate every band's keys, then apply the
// finished summary band by band (recomputing q|k|v instead of storing it). Results go to
// ws.act[2] while x is still read as the next band's halo, then replace x.
void vit_block_banded(Backend& be, const VitBlockWeights& w, int64_t channels, int64_t head_dim, Grid g, float* x,
                      const Workspace& ws, int64_t rows) {
  const VitShape s = vit_shape(w, head_dim);
  const int64_t width = g.width, height = g.height, image = height * width * channels;
  const int64_t group_stats = head_dim * head_dim + head_dim;
  float* y = ws.act[2];
  float* stats = ws.vit;
  float* qkv = stats + s.stats;
  float* branch_a = qkv + (rows + 2 * s.halo) * width * s.qkv_cols;
  float* branch_b = branch_a + (rows + 2 * s.halo) * width * s.qkv_cols;
  float* att = branch_b + rows * width * s.qkv_cols;
  float* tmp = att + rows * width * s.att_cols;
  const std::vector<float> zeros(static_cast<size_t>(s.stats), 0.0f);

  for (int64_t b = 0; b < g.batch; ++b) {
    const float* xb = x + b * image;
    float* yb = y + b * image;
    // q|k|v of band [r0, r1) (computed with its halo) and each multi-scale branch of it,
    // handed to `use(part, data)` with data at the band's first row.
    const auto project = [&](int64_t r0, int64_t r1, const auto& use) {
      const int64_t a0 = std::max<int64_t>(0, r0 - s.halo), a1 = std::min(height, r1 + s.halo);
      be.linear(xb + a0 * width * channels, (a1 - a0) * width, channels, w.qkv_w.data(), s.qkv_cols, nullptr,
                Activation::None, qkv);
      use(0, qkv + (r0 - a0) * width * s.qkv_cols);
      for (size_t i = 0; i < w.scales.size(); ++i) {
        const MultiscaleWeights& ms = w.scales[i];
        be.depthwise_conv2d(qkv, 1, a1 - a0, width, s.qkv_cols, ms.kernel, ms.proj_in.data(), nullptr, branch_a);
        conv(be, ms.proj_out, {1, r1 - r0, width}, branch_a + (r0 - a0) * width * s.qkv_cols, branch_b);
        use(static_cast<int64_t>(i + 1), branch_b);
      }
    };
    be.upload(stats, zeros.data(), zeros.size());
    for (int64_t r0 = 0; r0 < height; r0 += rows) {
      const int64_t r1 = std::min(height, r0 + rows);
      project(r0, r1, [&](int64_t part, const float* data) {
        be.relu_attention_stats(data, s.qkv_cols, (r1 - r0) * width, w.heads, head_dim,
                                stats + part * w.heads * group_stats);
      });
    }
    for (int64_t r0 = 0; r0 < height; r0 += rows) {
      const int64_t r1 = std::min(height, r0 + rows), m = (r1 - r0) * width;
      project(r0, r1, [&](int64_t part, const float* data) {
        be.relu_attention_apply(data, s.qkv_cols, m, w.heads, head_dim, stats + part * w.heads * group_stats,
                                att + part * w.inner, s.att_cols);
      });
      be.linear(att, m, s.att_cols, w.out_w.data(), channels, nullptr, Activation::None, tmp);
      be.rms_norm_affine(tmp, m, channels, w.attn_norm.w.data(), w.attn_norm.b.data(), kNormEps,
                         xb + r0 * width * channels, yb + r0 * width * channels);
    }
  }
  be.copy(x, y, static_cast<size_t>(g.batch * image));

  float* expanded = ws.vit;
  float* gated = expanded + (rows + 2) * width * 2 * w.hidden;
  float* mlp_tmp = gated + (rows + 2) * width * w.hidden;
  for (int64_t b = 0; b < g.batch; ++b) {
    const float* xb = x + b * image;
    float* yb = y + b * image;
    for (int64_t r0 = 0; r0 < height; r0 += rows) {
      const int64_t r1 = std::min(height, r0 + rows), m = (r1 - r0) * width;
      const int64_t a0 = std::max<int64_t>(0, r0 - 1), a1 = std::min(height, r1 + 1);
      be.linear(xb + a0 * width * channels, (a1 - a0) * width, channels, w.inv_w.data(), 2 * w.hidden,
                w.inv_b.data(), Activation::SiLU, expanded);
      be.dwconv3x3_glu(expanded, 1, a1 - a0, width, w.hidden, w.dw_w.data(), w.dw_b.data(), gated);
      be.linear(gated + (r0 - a0) * width * w.hidden, m, w.hidden, w.point_w.data(), channels, nullptr,
                Activation::None, mlp_tmp);
      be.rms_norm_affine(mlp_tmp, m, channels, w.mlp_norm.w.data(), w.mlp_norm.b.data(), kNormEps,
                         xb + r0 * width * channels, yb + r0 * width * channels);
    }
  }
  be.copy(x, y, static_cast<size_t>(g.batch * image));
}

}  // namespace

int64_t vit_band_rows(const VitBlockWeights& w, int64_t channels, int64_t head_dim, Grid grid, int64_t budget) {
  const VitShape s = vit_shape(w, head_dim);
  if (budget <= 0 || grid.height * grid.width <= head_dim) return 0;
  if (whole_floats(w, s, grid.pixels()) <= budget) return 0;
  // The most rows that fit; one row at least, however tight the budget.
  int64_t rows = 1;
  while (rows < grid.height && band_floats(w, s, channels, grid.width, rows + 1) <= budget) ++rows;
  return rows;
}

void WorkspacePlan::activation(int64_t pixels, int64_t channels) { act_ = std::max(act_, pixels * channels); }

void WorkspacePlan::stage(const StageWeights& stage, Grid grid) {
  activation(grid.pixels(), stage.channels);
  for (const BlockWeights& b : stage.blocks) {
    const auto* v = std::get_if<VitBlockWeights>(&b);
    if (!v) continue;
    // head_dim = inner / heads; the plan needs it only through vit_band_rows' quadratic test.
    const int64_t head_dim = v->inner / v->heads;
    const VitShape s = vit_shape(*v, head_dim);
    const int64_t rows = vit_band_rows(*v, stage.channels, head_dim, grid, vit_budget_);
    vit_ = std::max(vit_, rows > 0 ? band_floats(*v, s, stage.channels, grid.width, rows)
                                   : whole_floats(*v, s, grid.pixels()));
  }
}

Workspace WorkspacePlan::allocate(Backend& backend) const {
  Workspace ws;
  for (float*& a : ws.act) a = backend.scratch(static_cast<size_t>(act_));
  ws.vit = backend.scratch(static_cast<size_t>(vit_));
  ws.vit_budget = vit_budget_;
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
          if constexpr (std::is_same_v<std::decay_t<decltype(w)>, ResBlockWeights>) {
            res_block(be, w, grid, x, ws);
          } else {
            const int64_t rows = vit_band_rows(w, stage.channels, head_dim, grid, ws.vit_budget);
            if (rows > 0)
              vit_block_banded(be, w, stage.channels, head_dim, grid, x, ws, rows);
            else
              vit_block(be, w, stage.channels, head_dim, grid, x, ws);
          }
        },
        b);
  }
}

}  // namespace sana::dcae
