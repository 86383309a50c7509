#pragma once
// SCMScheduler (Sana-Sprint, TrigFlow) together with SanaSprintPipeline's conversions around
// the transformer, which the sampler interface exposes as model_input / model_output_to_step_input.
#include <span>
#include <vector>

#include "sana/sampler.h"

namespace sana::sample {

// The transformer's timestep for angle t: s = sin(t) / (cos(t) + sin(t)), float32.
float trigflow_timestep(float angle);
// x_in = (latents / sigma_data) * sqrt(s^2 + (1 - s)^2).
void trigflow_model_input(std::span<const float> latents, float s, float sigma_data, std::span<float> x_in);
// ((1 - 2s) x_in + (1 - 2s + 2s^2) F) / sqrt(s^2 + (1 - s)^2) * sigma_data: the x-space
// velocity scheduler.step() takes.
void trigflow_velocity(std::span<const float> x_in, std::span<const float> model_output, float s, float sigma_data,
                       std::span<float> out);

class ScmSampler final : public Sampler {
 public:
  ScmSampler(const ScmConfig& config, int num_steps);

  SamplerKind kind() const override { return SamplerKind::Scm; }
  DType timestep_dtype() const override { return DType::F32; }
  std::vector<double> timesteps() const override { return {angles_.begin(), angles_.end()}; }
  std::vector<float> sigmas() const override { return {}; }
  float transformer_timestep(int step) const override;
  float initial_latent_scale() const override { return sigma_data_; }
  void model_input(int step, std::span<const float> latents, std::span<float> out) const override;
  void model_output_to_step_input(int step, std::span<const float> model_input, std::span<const float> model_output,
                                  std::span<float> out) const override;
  bool needs_noise() const override { return true; }
  void final_latents(std::span<const float> sample, std::span<float> out) const override;

 protected:
  void do_step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise) override;

 private:
  float angle(int step) const;

  float sigma_data_;
  std::vector<float> angles_;  // num_steps + 1, ending at 0
};

}  // namespace sana::sample
