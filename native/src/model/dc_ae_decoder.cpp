// Decoder.forward (diffusers autoencoder_dc.py): conv_in + channel-repeat shortcut, stages
// from the deepest up, each but the deepest opening with DCUpBlock2d (nearest 2x + 3x3
// conv, + repeat/pixel-shuffle shortcut), then RMSNorm -> act -> conv_out.
#include <string>
#include <utility>

#include "model/dc_ae_passes.h"

namespace sana::dcae {

namespace {

Activation conv_act(const DcAeConfig& c) {
  return c.decoder_conv_act_fn == "silu" ? Activation::SiLU : Activation::ReLU;
}

// Latent grid of stage i scaled to that stage's resolution.
Grid stage_grid(Grid latent, size_t stages, size_t i) {
  const int64_t scale = int64_t{1} << (stages - 1 - i);
  return {latent.batch, latent.height * scale, latent.width * scale};
}

WorkspacePlan plan_for(const DcAeConfig& c, const DecoderWeights& w, Grid grid) {
  WorkspacePlan plan;
  const size_t n = w.stages.size();
  for (size_t i = 0; i < n; ++i) plan.stage(w.stages[i], stage_grid(grid, n, i).pixels());
  plan.activation(stage_grid(grid, n, 0).pixels(), c.in_channels);
  return plan;
}

}  // namespace

int64_t decoder_workspace_floats(const DcAeConfig& config, const DecoderWeights& weights, Grid grid) {
  return plan_for(config, weights, grid).floats();
}

void run_decoder(Backend& be, const DcAeConfig& c, const DecoderWeights& w, const float* latent, Grid grid,
                 float* image, const CaptureFn& capture) {
  Workspace ws = plan_for(c, w, grid).allocate(be);
  const size_t n = w.stages.size();
  const int64_t deepest = w.stages.back().channels;

  Grid cur = conv(be, w.conv_in, grid, latent, ws.act[0]);
  // The reference records the conv_in module's own output, before the shortcut is added.
  if (capture) capture("decoder_conv_in_out", ws.act[0], cur, deepest);
  if (c.decoder_in_shortcut)
    be.add_channel_repeat(latent, grid.batch, grid.height, grid.width, c.latent_channels, 1, deepest, ws.act[0]);

  for (size_t i = n; i-- > 0;) {
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

  const int64_t channels = w.stages.front().channels;
  be.rms_norm_affine(ws.act[0], cur.pixels(), channels, w.norm_out.w.data(), w.norm_out.b.data(), kNormEps, nullptr,
                     ws.act[1]);
  be.activate(conv_act(c), ws.act[1], cur.pixels(), channels, channels);
  conv(be, w.conv_out, cur, ws.act[1], image);
}

}  // namespace sana::dcae
