// Encoder.forward (diffusers autoencoder_dc.py): conv_in, stages from the finest down,
// each but the last closing with DCDownBlock2d (stride-2 3x3 conv + pixel-unshuffle /
// group-mean shortcut), then conv_out + group-mean shortcut.
#include <string>
#include <utility>

#include "model/dc_ae_passes.h"

namespace sana::dcae {

void run_encoder(Backend& be, const DcAeConfig& c, const EncoderWeights& w, const float* image, Grid grid,
                 float* latent, int64_t vit_budget, const CaptureFn& capture) {
  const size_t n = w.stages.size();
  WorkspacePlan plan(vit_budget);
  for (size_t i = 0; i < n; ++i) plan.stage(w.stages[i], {grid.batch, grid.height >> i, grid.width >> i});
  Workspace ws = plan.allocate(be);

  Grid cur = conv(be, w.conv_in, grid, image, ws.act[0]);
  for (size_t i = 0; i < n; ++i) {
    const StageWeights& stage = w.stages[i];
    run_blocks(be, stage, c.attention_head_dim, cur, ws.act[0], ws);
    int64_t channels = stage.channels;
    if (stage.has_resample) {
      const int64_t to = w.stages[i + 1].channels;
      const Grid down = conv(be, stage.resample, cur, ws.act[0], ws.act[1], 2);
      be.add_channel_group_mean(ws.act[0], cur.batch, cur.height, cur.width, stage.channels, 2, to, ws.act[1]);
      std::swap(ws.act[0], ws.act[1]);
      cur = down;
      channels = to;
    }
    if (capture) capture("encoder_down_blocks_" + std::to_string(i) + "_out", ws.act[0], cur, channels);
  }

  const int64_t deepest = w.stages.back().channels;
  conv(be, w.conv_out, cur, ws.act[0], latent);
  if (c.encoder_out_shortcut)
    be.add_channel_group_mean(ws.act[0], cur.batch, cur.height, cur.width, deepest, 1, c.latent_channels, latent);
}

}  // namespace sana::dcae
