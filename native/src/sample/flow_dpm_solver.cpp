#include "sample/exact_float.h"
// (exact_float.h first: see there.)
#include "sample/flow_dpm_solver.h"

#include <cmath>
#include <utility>

#include "sample/linspace.h"
#include "sana/error.h"

namespace sana::sample {

namespace {

// _sigma_to_alpha_sigma_t with use_flow_sigmas, then lambda = log(alpha) - log(sigma); all
// float32 like the 0-dim tensors diffusers computes them with (sigma = 0 gives +inf).
float flow_lambda(float sigma) { return std::log(1.0f - sigma) - std::log(sigma); }

}  // namespace

FlowDpmSolver::FlowDpmSolver(const FlowDpmSolverConfig& config, int num_steps, float timestep_scale)
    : Sampler(num_steps), config_(config), timestep_scale_(timestep_scale) {
  check(config.solver_order == 1 || config.solver_order == 2,
        "flow DPM-Solver: solver_order must be 1 or 2, got " + std::to_string(config.solver_order));
  // set_timesteps, use_flow_sigmas branch, float64 like numpy.
  const double train = static_cast<double>(config.num_train_timesteps);
  const std::vector<double> alphas = numpy_linspace(1.0, 1.0 / train, num_steps + 1);
  const double shift = config.flow_shift;
  std::vector<double> shifted(alphas.size());
  for (size_t i = 0; i < alphas.size(); ++i) {
    const double s = 1.0 - alphas[i];
    shifted[i] = shift * s / (1.0 + (shift - 1.0) * s);
  }
  // np.flip(...)[:-1]: descending, without the 0 that 1 - alphas[0] produces.
  timesteps_.reserve(static_cast<size_t>(num_steps));
  sigmas_.reserve(static_cast<size_t>(num_steps) + 1);
  for (int j = 0; j < num_steps; ++j) {
    const double sigma = shifted[static_cast<size_t>(num_steps - j)];
    timesteps_.push_back(static_cast<int64_t>(sigma * train));  // .to(int64) truncates
    sigmas_.push_back(static_cast<float>(sigma));
  }
  sigmas_.push_back(0.0f);  // final_sigmas_type "zero"
}

std::vector<double> FlowDpmSolver::timesteps() const { return {timesteps_.begin(), timesteps_.end()}; }

float FlowDpmSolver::transformer_timestep(int step) const {
  check(step >= 0 && step < num_steps(), "flow DPM-Solver: step " + std::to_string(step) + " out of range");
  // int64 timestep tensor * python float: both cast to float32, one float32 product.
  return static_cast<float>(timesteps_[static_cast<size_t>(step)]) * timestep_scale_;
}

void FlowDpmSolver::reset() {
  Sampler::reset();
  previous_x0_.clear();
  lower_order_nums_ = 0;
}

void FlowDpmSolver::do_step(std::span<const float> model_output, std::span<float> sample,
                            std::span<const float> noise) {
  (void)noise;
  const int i = step_index();
  const int n_steps = num_steps();
  // final_sigmas_type "zero" makes the last step first order whatever the other flags say.
  const bool lower_order_final = i == n_steps - 1;

  // convert_model_output (flow_prediction): x0 = sample - sigma_t * v.
  if (previous_x0_.size() != denoised_.size()) previous_x0_.assign(denoised_.size(), 0.0f);
  std::swap(previous_x0_, denoised_);
  const float sigma = sigmas_[static_cast<size_t>(i)];
  const size_t n = sample.size();
  for (size_t k = 0; k < n; ++k) denoised_[k] = sample[k] - sigma * model_output[k];

  if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final)
    first_order(sample);
  else
    second_order(sample);
  if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
}

void FlowDpmSolver::first_order(std::span<float> sample) const {
  const size_t i = static_cast<size_t>(step_index());
  const float sigma_t = sigmas_[i + 1];
  const float sigma_s = sigmas_[i];
  const float alpha_t = 1.0f - sigma_t;
  const float h = flow_lambda(sigma_t) - flow_lambda(sigma_s);
  const float a = sigma_t / sigma_s;
  const float b = alpha_t * (std::exp(-h) - 1.0f);
  const size_t n = sample.size();
  for (size_t k = 0; k < n; ++k) sample[k] = a * sample[k] - b * denoised_[k];
}

void FlowDpmSolver::second_order(std::span<float> sample) const {
  const size_t i = static_cast<size_t>(step_index());
  const float sigma_t = sigmas_[i + 1];
  const float sigma_s0 = sigmas_[i];
  const float sigma_s1 = sigmas_[i - 1];
  const float alpha_t = 1.0f - sigma_t;
  const float lambda_t = flow_lambda(sigma_t);
  const float lambda_s0 = flow_lambda(sigma_s0);
  const float lambda_s1 = flow_lambda(sigma_s1);
  const float h = lambda_t - lambda_s0;
  const float h_0 = lambda_s0 - lambda_s1;
  const float r0 = h_0 / h;
  const float inv_r0 = 1.0f / r0;  // D1 = (1 / r0) * (m0 - m1)
  const float a = sigma_t / sigma_s0;
  const float b = alpha_t * (std::exp(-h) - 1.0f);
  const size_t n = sample.size();
  const float* m0 = denoised_.data();
  const float* m1 = previous_x0_.data();
  if (config_.heun) {
    const float c = alpha_t * ((std::exp(-h) - 1.0f) / h + 1.0f);
    for (size_t k = 0; k < n; ++k) {
      const float d1 = inv_r0 * (m0[k] - m1[k]);
      sample[k] = (a * sample[k] - b * m0[k]) + c * d1;
    }
  } else {
    const float c = 0.5f * b;
    for (size_t k = 0; k < n; ++k) {
      const float d1 = inv_r0 * (m0[k] - m1[k]);
      sample[k] = (a * sample[k] - b * m0[k]) - c * d1;
    }
  }
}

}  // namespace sana::sample
