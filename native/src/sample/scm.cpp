#include "sample/exact_float.h"
// (exact_float.h first: see there.)
#include "sample/scm.h"

#include <cmath>

#include "sample/linspace.h"
#include "sana/error.h"

namespace sana::sample {

namespace {

// sqrt(s**2 + (1 - s)**2) as torch evaluates it (pow(x, 2) is x * x).
float trigflow_norm(float s) {
  const float one_minus = 1.0f - s;
  return std::sqrt(s * s + one_minus * one_minus);
}

void check_sizes(size_t a, size_t b, const char* what) {
  check(a == b, std::string("SCM: ") + what + ": " + std::to_string(a) + " values, expected " + std::to_string(b));
}

}  // namespace

float trigflow_timestep(float angle) {
  const float sin_t = std::sin(angle);
  return sin_t / (std::cos(angle) + sin_t);
}

void trigflow_model_input(std::span<const float> latents, float s, float sigma_data, std::span<float> x_in) {
  check_sizes(x_in.size(), latents.size(), "model input");
  const float norm = trigflow_norm(s);
  for (size_t k = 0; k < latents.size(); ++k) x_in[k] = (latents[k] / sigma_data) * norm;
}

void trigflow_velocity(std::span<const float> x_in, std::span<const float> model_output, float s, float sigma_data,
                       std::span<float> out) {
  check_sizes(model_output.size(), x_in.size(), "model output");
  check_sizes(out.size(), x_in.size(), "velocity");
  const float two_s = 2.0f * s;
  const float a = 1.0f - two_s;                  // 1 - 2 * s
  const float b = (1.0f - two_s) + 2.0f * (s * s);  // 1 - 2 * s + 2 * s**2
  const float norm = trigflow_norm(s);
  for (size_t k = 0; k < x_in.size(); ++k)
    out[k] = ((a * x_in[k] + b * model_output[k]) / norm) * sigma_data;
}

ScmSampler::ScmSampler(const ScmConfig& config, int num_steps)
    : Sampler(num_steps), sigma_data_(static_cast<float>(config.sigma_data)) {
  check(num_steps <= config.num_train_timesteps,
        "SCM: " + std::to_string(num_steps) + " steps exceed num_train_timesteps " +
            std::to_string(config.num_train_timesteps));
  if (num_steps == 2 && config.intermediate_timesteps) {
    angles_ = {static_cast<float>(config.max_timesteps), static_cast<float>(*config.intermediate_timesteps), 0.0f};
  } else {
    angles_ = torch_linspace_f32(config.max_timesteps, 0.0, num_steps + 1);
  }
}

float ScmSampler::angle(int step) const {
  check(step >= 0 && step < num_steps(), "SCM: step " + std::to_string(step) + " out of range");
  return angles_[static_cast<size_t>(step)];
}

float ScmSampler::transformer_timestep(int step) const { return trigflow_timestep(angle(step)); }

void ScmSampler::model_input(int step, std::span<const float> latents, std::span<float> out) const {
  trigflow_model_input(latents, transformer_timestep(step), sigma_data_, out);
}

void ScmSampler::model_output_to_step_input(int step, std::span<const float> model_input,
                                            std::span<const float> model_output, std::span<float> out) const {
  trigflow_velocity(model_input, model_output, transformer_timestep(step), sigma_data_, out);
}

void ScmSampler::do_step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise) {
  const size_t i = static_cast<size_t>(step_index());
  const float s = angles_[i];
  const float t = angles_[i + 1];
  const float cos_s = std::cos(s);
  const float sin_s = std::sin(s);
  const float cos_t = std::cos(t);
  const float sin_t = std::sin(t);
  for (size_t k = 0; k < sample.size(); ++k) {
    const float x0 = cos_s * sample[k] - sin_s * model_output[k];
    denoised_[k] = x0;
    // randn * sigma_data is its own float32 tensor before sin(t) scales it.
    sample[k] = cos_t * x0 + sin_t * (noise[k] * sigma_data_);
  }
}

void ScmSampler::final_latents(std::span<const float> sample, std::span<float> out) const {
  check_sizes(out.size(), sample.size(), "final latents");
  check(!denoised_.empty(), "SCM: final_latents before any step");
  check(done(), "SCM: final_latents before the last step");
  for (size_t k = 0; k < out.size(); ++k) out[k] = denoised_[k] / sigma_data_;
}

}  // namespace sana::sample
