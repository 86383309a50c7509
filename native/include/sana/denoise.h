#pragma once
// The denoising loop of SanaPipeline / SanaPAGPipeline / SanaSprintPipeline, from prompt
// embeddings to the latents the VAE decodes: classifier-free guidance as one batched pass,
// PAG, Sprint's embedded guidance, a callback after every step, cancellation between steps.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "sana/dit.h"
#include "sana/sampler.h"

namespace sana {

// Prompt embeddings as the text encoder hands them over: (batch, tokens, caption_channels)
// with a 0/1 mask (batch, tokens). A batch of 1 is shared by every image.
struct PromptEmbeddings {
  std::vector<float> embeds;
  std::vector<float> mask;
  int64_t batch = 0;
  int64_t tokens = 0;
};

struct DenoiseRequest {
  int64_t batch = 1;  // images
  int64_t height = 0;  // latent rows (image height / 32)
  int64_t width = 0;   // latent columns
  // Initial Gaussian latents (batch, channels, height, width); empty: drawn from `seed`.
  std::vector<float> latents;
  // torch.Generator("cpu").manual_seed(seed) as diffusers uses it (sana/torch_generator.h).
  uint64_t seed = 0;
  PromptEmbeddings prompt;
  PromptEmbeddings negative;  // used only with CFG; empty means CFG is not possible
  int steps = 20;
  double guidance_scale = 4.5;  // > 1 turns CFG on (Sprint: fed to the guidance embedder)
  double pag_scale = 0.0;       // > 0 turns PAG on
  double pag_adaptive_scale = 0.0;  // > 0: the PAG scale decays with the timestep (PAGMixin)
  std::vector<int> pag_layers;  // transformer block indices that PAG perturbs
  SamplerConfig sampler;
  // Sprint's per-step noise (steps, batch, channels, height, width); empty: drawn from `seed`.
  std::vector<float> step_noise;
};

struct DenoiseStep {
  int step = 0;  // 0-based index of the step just taken
  int total = 0;
  std::span<const float> latents;   // (batch, C, H, W) after the step
  std::span<const float> denoised;  // the sampler's x0 prediction at this step
  // Raw transformer output of this step (model batch, C, H, W), before guidance.
  std::span<const float> model_output;
  float transformer_timestep = 0;
};

// Return nothing; cancellation goes through the flag so that it is checked between steps.
using DenoiseObserver = std::function<void(const DenoiseStep&)>;

struct DenoiseResult {
  std::vector<float> latents;  // what the VAE decodes (before / scaling_factor)
  int steps_completed = 0;
  bool cancelled = false;
};

// Which model-batch layout a request runs as; exposed so callers can size buffers and tests
// can check the layout: copies of the image batch, in the reference's order.
struct GuidancePlan {
  bool cfg = false;
  bool pag = false;
  bool embedded_guidance = false;  // Sprint
  int groups = 1;                  // model batch = groups * images
};
GuidancePlan plan_guidance(const DitConfig& config, const DenoiseRequest& request);

DenoiseResult denoise(SanaTransformer& transformer, const DenoiseRequest& request, const DenoiseObserver& observer,
                      const std::atomic<bool>* cancel = nullptr);

}  // namespace sana
