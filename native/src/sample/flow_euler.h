#pragma once
// FlowMatchEulerDiscreteScheduler(shift) as convert_sana_to_diffusers.py builds it for
// Sana's flow_euler sampler.
#include <vector>

#include "sana/sampler.h"

namespace sana::sample {

class FlowEuler final : public Sampler {
 public:
  FlowEuler(const FlowEulerConfig& config, int num_steps, float timestep_scale);

  SamplerKind kind() const override { return SamplerKind::FlowEuler; }
  DType timestep_dtype() const override { return DType::F32; }
  std::vector<double> timesteps() const override { return {timesteps_.begin(), timesteps_.end()}; }
  std::vector<float> sigmas() const override { return sigmas_; }
  float transformer_timestep(int step) const override;

 protected:
  void do_step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise) override;

 private:
  float timestep_scale_;
  std::vector<float> timesteps_;
  std::vector<float> sigmas_;
};

}  // namespace sana::sample
