#include "sana/sampler.h"

#include <algorithm>

#include "sample/flow_dpm_solver.h"
#include "sample/flow_euler.h"
#include "sample/scm.h"
#include "sana/error.h"

namespace sana {

namespace {

void check_same_size(size_t got, size_t expected, const char* what) {
  check(got == expected, std::string("sampler: ") + what + " has " + std::to_string(got) +
                             " values, expected " + std::to_string(expected));
}

}  // namespace

Sampler::Sampler(int num_steps) : num_steps_(num_steps) {
  check(num_steps >= 1, "sampler: the number of steps must be at least 1, got " + std::to_string(num_steps));
}

void Sampler::model_input(int step, std::span<const float> latents, std::span<float> out) const {
  (void)step;
  check_same_size(out.size(), latents.size(), "model_input output");
  std::copy(latents.begin(), latents.end(), out.begin());
}

void Sampler::model_output_to_step_input(int step, std::span<const float> model_input,
                                         std::span<const float> model_output, std::span<float> out) const {
  (void)step;
  (void)model_input;
  check_same_size(out.size(), model_output.size(), "converted model output");
  std::copy(model_output.begin(), model_output.end(), out.begin());
}

void Sampler::step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise) {
  check(!done(), "sampler: all " + std::to_string(num_steps_) + " steps have already been taken");
  check_same_size(model_output.size(), sample.size(), "model_output");
  if (needs_noise()) {
    check(!noise.empty(), std::string("sampler: ") + std::string(sampler_kind_name(kind())) +
                              " needs standard-normal noise at every step");
    check_same_size(noise.size(), sample.size(), "noise");
  }
  if (denoised_.empty()) {
    check(!sample.empty(), "sampler: empty sample");
    denoised_.resize(sample.size());
  } else {
    // Multistep history is per element: the batch cannot change between steps.
    check_same_size(sample.size(), denoised_.size(), "sample (it must keep the size of the first step)");
  }
  do_step(model_output, sample, noise);
  ++step_index_;
}

void Sampler::final_latents(std::span<const float> sample, std::span<float> out) const {
  check_same_size(out.size(), sample.size(), "final latents output");
  std::copy(sample.begin(), sample.end(), out.begin());
}

void Sampler::reset() {
  step_index_ = 0;
  denoised_.clear();
}

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config, int num_steps) {
  const float timestep_scale = static_cast<float>(config.timestep_scale);
  if (const auto* dpm = std::get_if<FlowDpmSolverConfig>(&config.scheduler))
    return std::make_unique<sample::FlowDpmSolver>(*dpm, num_steps, timestep_scale);
  if (const auto* euler = std::get_if<FlowEulerConfig>(&config.scheduler))
    return std::make_unique<sample::FlowEuler>(*euler, num_steps, timestep_scale);
  return std::make_unique<sample::ScmSampler>(std::get<ScmConfig>(config.scheduler), num_steps);
}

}  // namespace sana
