#include "sample/exact_float.h"
// (exact_float.h first: see there.)
#include "sample/flow_euler.h"

#include "sample/linspace.h"
#include "sana/error.h"

namespace sana::sample {

FlowEuler::FlowEuler(const FlowEulerConfig& config, int num_steps, float timestep_scale)
    : Sampler(num_steps), timestep_scale_(timestep_scale) {
  const double shift = config.shift;
  const int train = config.num_train_timesteps;
  // __init__ shifts the float32 training sigmas 1/train .. 1 once; its last value becomes
  // sigma_min, so set_timesteps' linspace ends at an already shifted sigma and the shift
  // below applies a second time (4 steps at shift 3 end at sigma 0.00893, not 0.003).
  const float shift_f = static_cast<float>(shift);
  const float shift_minus_one_f = static_cast<float>(shift - 1.0);
  auto shift_f32 = [&](float s) { return shift_f * s / (1.0f + shift_minus_one_f * s); };
  const float sigma_min = shift_f32(1.0f / static_cast<float>(train));
  const float sigma_max = shift_f32(static_cast<float>(train) / static_cast<float>(train));

  // set_timesteps: numpy float64 schedule, shifted, then float32.
  const std::vector<double> t = numpy_linspace(static_cast<double>(sigma_max) * train,
                                               static_cast<double>(sigma_min) * train, num_steps);
  sigmas_.reserve(t.size() + 1);
  timesteps_.reserve(t.size());
  for (double ti : t) {
    const double s = ti / train;
    const float sigma = static_cast<float>(shift * s / (1.0 + (shift - 1.0) * s));
    sigmas_.push_back(sigma);
    timesteps_.push_back(sigma * static_cast<float>(train));
  }
  sigmas_.push_back(0.0f);
}

float FlowEuler::transformer_timestep(int step) const {
  check(step >= 0 && step < num_steps(), "flow Euler: step " + std::to_string(step) + " out of range");
  return timesteps_[static_cast<size_t>(step)] * timestep_scale_;
}

void FlowEuler::do_step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise) {
  (void)noise;
  const size_t i = static_cast<size_t>(step_index());
  const float sigma = sigmas_[i];
  const float dt = sigmas_[i + 1] - sigma;
  const size_t n = sample.size();
  for (size_t k = 0; k < n; ++k) {
    // The x0 estimate is not part of the reference step; it serves previews.
    denoised_[k] = sample[k] - sigma * model_output[k];
    sample[k] = sample[k] + dt * model_output[k];
  }
}

}  // namespace sana::sample
