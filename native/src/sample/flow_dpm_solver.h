#pragma once
// DPMSolverMultistepScheduler as SANA ships it (scheduler_config.json: dpmsolver++, order 2,
// midpoint, lower_order_final, final sigma 0, use_flow_sigmas, flow_prediction, flow_shift).
#include <cstdint>
#include <vector>

#include "sana/sampler.h"

namespace sana::sample {

class FlowDpmSolver final : public Sampler {
 public:
  FlowDpmSolver(const FlowDpmSolverConfig& config, int num_steps, float timestep_scale);

  SamplerKind kind() const override { return SamplerKind::FlowDpmSolver; }
  DType timestep_dtype() const override { return DType::I64; }
  std::vector<double> timesteps() const override;
  std::vector<float> sigmas() const override { return sigmas_; }
  float transformer_timestep(int step) const override;
  void reset() override;

 protected:
  void do_step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise) override;

 private:
  void first_order(std::span<float> sample) const;
  void second_order(std::span<float> sample) const;

  FlowDpmSolverConfig config_;
  float timestep_scale_;
  std::vector<int64_t> timesteps_;
  std::vector<float> sigmas_;
  std::vector<float> previous_x0_;  // model_outputs[-2]: the data prediction of the step before
  int lower_order_nums_ = 0;
};

}  // namespace sana::sample
