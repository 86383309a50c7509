#pragma once
// The building blocks of DC-AE's encoder and decoder on a Backend, all on NHWC images:
// conv layers, ResBlock, EfficientViTBlock, and the workspace a pass needs.
#include <cstdint>
#include <functional>
#include <string>

#include "backend/backend.h"
#include "model/dc_ae_weights.h"

namespace sana::dcae {

constexpr float kNormEps = 1e-5f;  // every RMSNorm of AutoencoderDC

struct Grid {
  int64_t batch = 1, height = 0, width = 0;
  int64_t pixels() const { return batch * height * width; }
};

// Reports an intermediate: `data` is backend memory, NHWC of `channels`.
using CaptureFn = std::function<void(const std::string& name, const float* data, Grid grid, int64_t channels)>;

// Per-pass scratch: three activation buffers (current x and two temporaries, each large
// enough for any stage's image) and one EfficientViT buffer (q|k|v, its multi-scale
// branches and the attention output, or GLUMBConv's expanded channels).
struct Workspace {
  float* act[3] = {nullptr, nullptr, nullptr};
  float* vit = nullptr;
  // EfficientViT scratch budget in floats (0 = none). A block whose whole-image scratch
  // would exceed it runs in bands of image rows (see vit_band_rows).
  int64_t vit_budget = 0;
};

// Floats a pass needs: tracks the largest activation and the largest EfficientViT demand.
class WorkspacePlan {
 public:
  explicit WorkspacePlan(int64_t vit_budget = 0) : vit_budget_(vit_budget) {}
  void activation(int64_t pixels, int64_t channels);
  void stage(const StageWeights& stage, Grid grid);
  Workspace allocate(Backend& backend) const;
  int64_t floats() const { return 3 * act_ + vit_; }

 private:
  int64_t vit_budget_ = 0;
  int64_t act_ = 1, vit_ = 1;
};

// Rows per band for an EfficientViTBlock on `grid` under `budget` floats of scratch, or 0
// when it runs on the whole image at once (within budget, no budget, or a grid so small the
// reference uses quadratic attention there).
int64_t vit_band_rows(const VitBlockWeights& w, int64_t channels, int64_t head_dim, Grid grid, int64_t budget);

// y = act(conv(x)) for a conv of `w`, input grid `in`; returns the output grid.
Grid conv(Backend& be, const ConvWeights& w, Grid in, const float* x, float* y, int64_t stride = 1,
          int64_t upsample = 1, Activation act = Activation::None);

// Runs every block of a stage in place on x (channels = stage.channels, x is ws.act[0]).
void run_blocks(Backend& be, const StageWeights& stage, int64_t head_dim, Grid grid, float* x, const Workspace& ws);

}  // namespace sana::dcae
