// Decoder.forward (diffusers autoencoder_dc.py): conv_in + channel-repeat shortcut, stages
// from the deepest up, each but the deepest opening with DCUpBlock2d (nearest 2x + 3x3
// conv, + repeat/pixel-shuffle shortcut), then RMSNorm -> act -> conv_out.
#include <algorithm>
#include <string>
#include <utility>
#include <variant>

#include "model/dc_ae_passes.h"

namespace sana::dcae {

namespace {

Activation conv_act(const DcAeConfig& c) {
  return c.decoder_conv_act_fn == "silu" ? Activation::SiLU : Activation::ReLU;
}

Grid scaled(Grid g, int64_t scale) { return {g.batch, g.height * scale, g.width * scale}; }

// Runs stages hi-1 down to lo on ws.act[0] (grid `cur`); returns the grid after them.
Grid run_stages(Backend& be, const DcAeConfig& c, const DecoderWeights& w, size_t hi, size_t lo, Grid cur,
                Workspace& ws, const CaptureFn& capture) {
  for (size_t i = hi; i-- > lo;) {
    const StageWeights& stage = w.stages[i];
    if (stage.has_resample) {
      const int64_t from = w.stages[i + 1].channels;
      const Grid up = conv(be, stage.resample, cur, ws.act[0], ws.act[1], 1, 2);
      be.add_channel_repeat(ws.act[0], cur.batch, cur.height, cur.width, from, 2, stage.channels, ws.act[1]);
      std::swap(ws.act[0], ws.act[1]);
      cur = up;
    }
    run_blocks(be, stage, c.attention_head_dim, cur, ws.act[0], ws);
    if (capture) capture("decoder_up_blocks_" + std::to_string(i) + "_out", ws.act[0], cur, stage.channels);
  }
  return cur;
}

// conv_in (+ shortcut) and stages n-1 .. lo; the result is left in ws.act[0].
Grid head(Backend& be, const DcAeConfig& c, const DecoderWeights& w, const float* latent, Grid grid, size_t lo,
          Workspace& ws, const CaptureFn& capture) {
  const int64_t deepest = w.stages.back().channels;
  const Grid cur = conv(be, w.conv_in, grid, latent, ws.act[0]);
  // The reference records the conv_in module's own output, before the shortcut is added.
  if (capture) capture("decoder_conv_in_out", ws.act[0], cur, deepest);
  if (c.decoder_in_shortcut)
    be.add_channel_repeat(latent, grid.batch, grid.height, grid.width, c.latent_channels, 1, deepest, ws.act[0]);
  return run_stages(be, c, w, w.stages.size(), lo, cur, ws, capture);
}

// Stages hi-1 .. 0 from ws.act[0] (grid `cur`), then norm_out, act and conv_out.
void tail(Backend& be, const DcAeConfig& c, const DecoderWeights& w, size_t hi, Grid cur, Workspace& ws,
          float* image, const CaptureFn& capture) {
  cur = run_stages(be, c, w, hi, 0, cur, ws, capture);
  const int64_t channels = w.stages.front().channels;
  be.rms_norm_affine(ws.act[0], cur.pixels(), channels, w.norm_out.w.data(), w.norm_out.b.data(), kNormEps, nullptr,
                     ws.act[1]);
  be.activate(conv_act(c), ws.act[1], cur.pixels(), channels, channels);
  conv(be, w.conv_out, cur, ws.act[1], image);
}

// Workspace for stages [lo, hi) when stage i runs at `base` scaled by 2^(top - i).
WorkspacePlan plan_stages(const DecoderWeights& w, Grid base, size_t top, size_t lo, size_t hi, int64_t vit_budget) {
  WorkspacePlan plan(vit_budget);
  for (size_t i = lo; i < hi; ++i) plan.stage(w.stages[i], scaled(base, int64_t{1} << (top - i)));
  return plan;
}

WorkspacePlan plan_full(const DcAeConfig& c, const DecoderWeights& w, Grid grid, int64_t vit_budget) {
  const size_t n = w.stages.size();
  WorkspacePlan plan = plan_stages(w, grid, n - 1, 0, n, vit_budget);
  plan.activation(scaled(grid, int64_t{1} << (n - 1)).pixels(), c.in_channels);
  return plan;
}

}  // namespace

size_t decoder_split(const DecoderWeights& w) {
  for (size_t i = 0; i < w.stages.size(); ++i)
    for (const BlockWeights& b : w.stages[i].blocks)
      if (std::holds_alternative<VitBlockWeights>(b)) return i;
  return w.stages.size();
}

Grid decoder_stage_grid(const DecoderWeights& w, Grid latent, size_t stage) {
  return scaled(latent, int64_t{1} << (w.stages.size() - 1 - stage));
}

int64_t decoder_workspace_floats(const DcAeConfig& config, const DecoderWeights& weights, Grid grid,
                                 int64_t vit_budget) {
  return plan_full(config, weights, grid, vit_budget).floats();
}

void run_decoder(Backend& be, const DcAeConfig& c, const DecoderWeights& w, const float* latent, Grid grid,
                 float* image, int64_t vit_budget, const CaptureFn& capture) {
  Workspace ws = plan_full(c, w, grid, vit_budget).allocate(be);
  const Grid cur = head(be, c, w, latent, grid, 0, ws, capture);
  tail(be, c, w, 0, cur, ws, image, capture);
}

Grid run_decoder_head(Backend& be, const DcAeConfig& c, const DecoderWeights& w, const float* latent, Grid grid,
                      float* out, int64_t vit_budget, const CaptureFn& capture) {
  const size_t n = w.stages.size(), split = decoder_split(w);
  WorkspacePlan plan = plan_stages(w, grid, n - 1, split, n, vit_budget);
  plan.activation(grid.pixels(), w.stages.back().channels);
  Workspace ws = plan.allocate(be);
  const Grid cur = head(be, c, w, latent, grid, split, ws, capture);
  const int64_t channels = split < n ? w.stages[split].channels : w.stages.back().channels;
  be.copy(out, ws.act[0], static_cast<size_t>(cur.pixels() * channels));
  return cur;
}

void run_decoder_tail(Backend& be, const DcAeConfig& c, const DecoderWeights& w, const float* in, Grid grid,
                      float* image, int64_t vit_budget) {
  const size_t n = w.stages.size(), split = decoder_split(w);
  const int64_t channels = split < n ? w.stages[split].channels : w.stages.back().channels;
  // The input is at the grid of stage `top` (the deepest stage when the head ran none), so
  // stage i of the tail runs at the input grid scaled by 2^(top - i).
  const size_t top = std::min(split, n - 1);
  WorkspacePlan plan = plan_stages(w, grid, top, 0, split, vit_budget);
  plan.activation(grid.pixels(), channels);
  plan.activation(scaled(grid, int64_t{1} << top).pixels(), c.in_channels);
  Workspace ws = plan.allocate(be);
  be.copy(ws.act[0], in, static_cast<size_t>(grid.pixels() * channels));
  tail(be, c, w, split, grid, ws, image, {});
}

}  // namespace sana::dcae
