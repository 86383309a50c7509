#pragma once
// SanaTransformer2DModel (the Linear DiT of SANA, SANA-1.5 and Sana-Sprint), computed as
// diffusers computes it, in float32, on a backend ("cpu" today).
//
// One denoising step = encode_text() once per request (caption projection, caption norm and
// every layer's cross-attention keys/values: they do not change across steps), then
// forward() per step. The workspace of forward() is sized by the first call at a shape and
// reused by later calls, so steps do not allocate. An instance runs one call at a time (the
// workspace is shared); use one instance per concurrent caller.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sana/tensor.h"

namespace sana {

// transformer/config.json, with diffusers' defaults for absent keys.
struct DitConfig {
  int64_t in_channels = 32;
  int64_t out_channels = 32;
  int64_t num_attention_heads = 70;
  int64_t attention_head_dim = 32;
  int64_t num_layers = 20;
  int64_t num_cross_attention_heads = 20;
  int64_t cross_attention_head_dim = 112;
  int64_t cross_attention_dim = 2240;
  int64_t caption_channels = 2304;
  double mlp_ratio = 2.5;
  bool attention_bias = false;
  int64_t sample_size = 32;
  int64_t patch_size = 1;
  double norm_eps = 1e-6;
  std::optional<double> interpolation_scale;  // set: sin-cos positional embedding (4K model)
  bool guidance_embeds = false;               // Sana-Sprint guidance embedder
  double guidance_embeds_scale = 0.1;         // applied by the pipeline, not by forward()
  bool qk_norm = false;                       // "rms_norm_across_heads" on q and k
  double timestep_scale = 1.0;                // applied by the pipeline, not by forward()

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  int64_t cross_inner_dim() const { return num_cross_attention_heads * cross_attention_head_dim; }
  int64_t mlp_hidden() const { return static_cast<int64_t>(mlp_ratio * static_cast<double>(inner_dim())); }

  // Throws naming the key on values this implementation does not support.
  static DitConfig from_json(const nlohmann::json& config);
  // Sana_600M_512px (Efficient-Large-Model/Sana_600M_512px_diffusers): 28 layers, 1152 wide.
  static DitConfig sana_600m_512px();
};

// Supplies a weight by its diffusers name, widened to float32 and of exactly `shape`.
using DitWeightSource = std::function<Tensor(const std::string& name, const Shape& shape)>;

// Named intermediate tensors of a forward pass, in the order they were produced:
// patch_embed_out, time_embed_out, embedded_timestep, block{i}_out, norm_out (forward) and
// caption_projection_out, caption_norm_out (encode_text).
struct DitCaptures {
  std::vector<std::pair<std::string, Tensor>> tensors;
  const Tensor* find(const std::string& name) const;
};

// The caption side of the model for one batch of prompts, reusable across steps.
class DitTextContext {
 public:
  DitTextContext();
  ~DitTextContext();
  DitTextContext(DitTextContext&&) noexcept;
  DitTextContext& operator=(DitTextContext&&) noexcept;

  int64_t batch() const;
  int64_t tokens() const;
  size_t bytes() const;

  struct State;  // backend buffers: per-layer K/V and the key bias

 private:
  friend class SanaTransformer;
  std::unique_ptr<State> state_;
};

struct DitStepInput {
  const float* latents = nullptr;  // (batch, in_channels, height, width), NCHW
  int64_t batch = 0, height = 0, width = 0;
  const float* timestep = nullptr;  // (batch): as the pipeline passes it (already * timestep_scale)
  const float* guidance = nullptr;  // (batch): guidance-embedder input (required iff guidance_embeds)
  // Text row used by each latent item; empty = item b uses row b (the batches must match).
  // Lets CFG/PAG batches share one encoded prompt, e.g. PAG [uncond, cond, cond] = {0, 1, 1}.
  std::vector<int64_t> text_index;
  // PAG (SanaPAGPipeline): layers whose self-attention uses diffusers' PAG processor, and the
  // batch items that take its perturbed path (identity attention to_out(to_v(x))). As in
  // diffusers, the PAG processor applies no qk-norm to any item of those layers.
  std::vector<uint8_t> pag_layers;  // num_layers flags, or empty
  std::vector<uint8_t> perturbed;   // batch flags, or empty
};

class SanaTransformer {
 public:
  // `dir` is a transformer/ folder (config.json + safetensors) or a pipeline folder that
  // has one. `backend` names the compute backend.
  static SanaTransformer load(const std::filesystem::path& dir, const std::string& backend = "cpu");
  static SanaTransformer build(const DitConfig& config, const DitWeightSource& weights,
                               const std::string& backend = "cpu");

  SanaTransformer(SanaTransformer&&) noexcept;
  SanaTransformer& operator=(SanaTransformer&&) noexcept;
  ~SanaTransformer();

  const DitConfig& config() const;
  std::string backend_name() const;
  size_t weight_bytes() const;

  // caption: (batch, tokens, caption_channels); mask: (batch, tokens) of 1 = keep, 0 = drop
  // (any float m gives the additive bias (1 - m) * -10000 diffusers uses), or null.
  DitTextContext encode_text(const float* caption, int64_t batch, int64_t tokens, const float* mask,
                             DitCaptures* captures = nullptr);

  // Writes the model output (batch, out_channels, height, width) to `out`.
  void forward(const DitTextContext& text, const DitStepInput& input, float* out, DitCaptures* captures = nullptr);
  Tensor forward(const DitTextContext& text, const DitStepInput& input, DitCaptures* captures = nullptr);

  // Workspace statistics: bytes reserved, and how often the workspace asked the system for
  // memory (constant across steps at a fixed shape).
  size_t workspace_bytes() const;
  size_t workspace_allocations() const;

  struct Impl;

 private:
  explicit SanaTransformer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sana
