#pragma once
// Samplers: what diffusers calls schedulers. Each one turns the transformer's prediction at
// one step into the latents of the next and reproduces the reference arithmetic operation
// by operation (float64 where diffusers builds its schedule with numpy, float32 where torch
// computes), because the golden data compare timesteps exactly and latents to 1e-5.
//
// A pipeline drives any sampler the same way:
//   latents *= initial_latent_scale()
//   for step in 0..num_steps():
//     model_input(step, latents, x)                      // transformer input
//     F = transformer(x, transformer_timestep(step))     // + guidance combine
//     model_output_to_step_input(step, x, F, v)          // SCM: TrigFlow -> x-space
//     this->step(v, latents, noise)                      // latents <- prev_sample
//   final_latents(latents, z)                            // what the VAE decodes
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sana/dtype.h"

namespace sana {

enum class SamplerKind { FlowDpmSolver, FlowEuler, Scm };

std::string_view sampler_kind_name(SamplerKind kind);  // "flow_dpm_solver", "flow_euler", "scm"
// Accepts the names above (and "dpm", "euler", "flow_dpm", "scm_trigflow"); throws on others.
SamplerKind parse_sampler_kind(std::string_view name);

// DPMSolverMultistepScheduler restricted to what SANA ships: dpmsolver++, flow sigmas,
// flow_prediction, final sigma zero. Everything else in a config is rejected when parsed.
struct FlowDpmSolverConfig {
  int num_train_timesteps = 1000;
  double flow_shift = 1.0;
  int solver_order = 2;  // 1 or 2
  bool heun = false;     // solver_type "heun" (default "midpoint")
  bool lower_order_final = true;
  bool euler_at_final = false;
};

// FlowMatchEulerDiscreteScheduler with a static shift.
struct FlowEulerConfig {
  int num_train_timesteps = 1000;
  double shift = 1.0;
};

// SCMScheduler (Sana-Sprint, TrigFlow) plus the schedule arguments SanaSprintPipeline passes.
struct ScmConfig {
  int num_train_timesteps = 1000;
  double sigma_data = 0.5;
  double max_timesteps = 1.5708;
  // Used only when running exactly 2 steps: [max, intermediate, 0]; otherwise (or when
  // unset) the angles are linspace(max, 0, steps + 1).
  std::optional<double> intermediate_timesteps = 1.3;
};

using SchedulerSettings = std::variant<FlowDpmSolverConfig, FlowEulerConfig, ScmConfig>;

struct SamplerConfig {
  SchedulerSettings scheduler;
  // transformer/config.json timestep_scale: SanaPipeline multiplies the 0..1000 timestep by
  // it (0.001 for the Sprint teacher). SanaSprintPipeline does not apply it.
  double timestep_scale = 1.0;

  SamplerKind kind() const;
};

// Which sampler a diffusers scheduler config describes: its `_class_name`, or, when that is
// absent (configs embedded elsewhere), the keys only one of the three classes has.
std::optional<SamplerKind> scheduler_config_kind(const nlohmann::json& scheduler_config);

// Builds the settings of `kind` (empty: the config's own) from a scheduler config. A DPM
// config can drive the Euler sampler (shift = flow_shift, as Sana's flow_euler sampler is
// built) and an Euler config the DPM one (flow_shift = shift, SANA's other settings); flow
// configs cannot drive SCM nor the reverse (different model parameterisation). `origin`
// names the source in errors.
SamplerConfig sampler_config_from_json(std::optional<SamplerKind> kind, const nlohmann::json& scheduler_config,
                                       const std::string& origin = "scheduler config");
// Same, reading <model_root>/scheduler/scheduler_config.json and the transformer's
// timestep_scale from <model_root>/transformer/config.json. `kind` empty: the folder's own.
SamplerConfig sampler_config_from_model(std::optional<SamplerKind> kind, const std::filesystem::path& model_root);

class Sampler {
 public:
  virtual ~Sampler() = default;

  virtual SamplerKind kind() const = 0;
  int num_steps() const { return num_steps_; }
  int step_index() const { return step_index_; }  // steps taken so far
  bool done() const { return step_index_ >= num_steps_; }

  // scheduler.timesteps after set_timesteps, exactly: DPM int64 (num_steps values), Euler
  // float32 (num_steps), SCM float32 angles (num_steps + 1, ending at 0). Every value is
  // exactly representable as a double.
  virtual DType timestep_dtype() const = 0;
  virtual std::vector<double> timesteps() const = 0;
  // scheduler.sigmas (float32, num_steps + 1, ending at 0); empty for SCM, which has none.
  virtual std::vector<float> sigmas() const = 0;

  // The `timestep` the pipeline passes to the transformer at `step` (float32).
  virtual float transformer_timestep(int step) const = 0;
  // Factor the pipeline applies to the initial Gaussian latents (SCM: sigma_data).
  virtual float initial_latent_scale() const { return 1.0f; }
  // The transformer input for the current latents (flows: the latents; SCM: x_in).
  virtual void model_input(int step, std::span<const float> latents, std::span<float> out) const;
  // The pipeline's conversion of the (guided) transformer output into what step() takes
  // (flows: unchanged; SCM: TrigFlow F -> velocity scaled by sigma_data).
  virtual void model_output_to_step_input(int step, std::span<const float> model_input,
                                          std::span<const float> model_output, std::span<float> out) const;

  // Whether step() needs standard-normal `noise` of the sample's size (SCM draws it per step).
  virtual bool needs_noise() const { return false; }
  // One scheduler.step(): sample <- prev_sample, in place. Every call must use the same size.
  void step(std::span<const float> model_output, std::span<float> sample, std::span<const float> noise = {});
  // The x0 prediction of the last step (DPM's data prediction, Euler's sample - sigma * v,
  // SCM's pred_x0), for previews; empty before the first step.
  std::span<const float> denoised() const { return denoised_; }
  // The latents to decode after the last step (flows: the sample; SCM: denoised / sigma_data).
  virtual void final_latents(std::span<const float> sample, std::span<float> out) const;

  // Back to step 0 with no history, to sample again with the same schedule.
  virtual void reset();

 protected:
  explicit Sampler(int num_steps);
  // Advances from step_index(); `denoised_` is sized to the sample and free to overwrite.
  virtual void do_step(std::span<const float> model_output, std::span<float> sample,
                       std::span<const float> noise) = 0;

  std::vector<float> denoised_;

 private:
  int num_steps_;
  int step_index_ = 0;
};

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config, int num_steps);

}  // namespace sana
