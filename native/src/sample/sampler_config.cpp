// From diffusers scheduler configs to sampler settings. The rule: accept every value whose
// effect this engine reproduces, reject every other with the key named, never approximate.
#include <cmath>

#include "sample/config_reader.h"
#include "sana/error.h"
#include "sana/model_folder.h"
#include "sana/sampler.h"

namespace sana {

using sample::ConfigReader;

namespace {

constexpr std::string_view kDpmClass = "DPMSolverMultistepScheduler";
constexpr std::string_view kEulerClass = "FlowMatchEulerDiscreteScheduler";
constexpr std::string_view kScmClass = "SCMScheduler";

bool has_any(const nlohmann::json& config, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (config.contains(key)) return true;
  return false;
}

int train_timesteps(const ConfigReader& r) {
  const int n = r.integer("num_train_timesteps", 1000);
  if (n < 1) r.reject("num_train_timesteps", "must be at least 1, got " + std::to_string(n));
  return n;
}

double positive_finite(const ConfigReader& r, const std::string& key, double fallback) {
  const double v = r.number(key, fallback);
  if (!(std::isfinite(v) && v > 0)) r.reject(key, "must be a positive finite number, got " + std::to_string(v));
  return v;
}

FlowDpmSolverConfig parse_dpm(const ConfigReader& r) {
  FlowDpmSolverConfig c;
  c.num_train_timesteps = train_timesteps(r);
  // (diffusers rewrites "deis" to dpmsolver++ but refuses it with final_sigmas_type "zero".)
  r.one_of("algorithm_type", "dpmsolver++", {"dpmsolver++"});
  c.solver_order = r.integer("solver_order", 2);
  if (c.solver_order != 1 && c.solver_order != 2)
    r.reject("solver_order", "= " + std::to_string(c.solver_order) + " is not supported (supported: 1, 2)");
  // diffusers maps the UniPC solver types to midpoint.
  const std::string solver = r.one_of("solver_type", "midpoint", {"midpoint", "heun", "logrho", "bh1", "bh2"});
  c.heun = solver == "heun";
  r.one_of("prediction_type", "epsilon", {"flow_prediction"});
  if (!r.boolean("use_flow_sigmas", false))
    r.reject("use_flow_sigmas", "must be true: only flow-matching (SANA) DPM-Solver schedules are supported");
  c.flow_shift = positive_finite(r, "flow_shift", 1.0);
  r.one_of("final_sigmas_type", "zero", {"zero"});
  r.require_off("thresholding", "dynamic thresholding is not implemented");
  r.require_off("use_karras_sigmas", "only flow sigmas are implemented");
  r.require_off("use_exponential_sigmas", "only flow sigmas are implemented");
  r.require_off("use_beta_sigmas", "only flow sigmas are implemented");
  r.require_off("use_lu_lambdas", "only flow sigmas are implemented");
  r.require_off("use_dynamic_shifting", "resolution-dependent shifting (mu) is not implemented");
  r.require_null("variance_type", "learned variance is not implemented");
  // diffusers raises on these values before it reaches the flow-sigma branch.
  r.one_of("timestep_spacing", "linspace", {"linspace", "leading", "trailing"});
  c.lower_order_final = r.boolean("lower_order_final", true);
  c.euler_at_final = r.boolean("euler_at_final", false);
  // beta_*, trained_betas, lambda_min_clipped, steps_offset, rescale_betas_zero_snr and the
  // thresholding parameters only shape the discrete-time schedule that use_flow_sigmas replaces.
  return c;
}

FlowEulerConfig parse_euler(const ConfigReader& r) {
  FlowEulerConfig c;
  c.num_train_timesteps = train_timesteps(r);
  c.shift = positive_finite(r, "shift", 1.0);
  r.require_off("use_dynamic_shifting", "resolution-dependent shifting (mu) is not implemented");
  r.require_off("invert_sigmas", "inverted sigmas are not implemented");
  r.require_null("shift_terminal", "terminal stretching is not implemented");
  r.require_off("use_karras_sigmas", "only the shifted linear schedule is implemented");
  r.require_off("use_exponential_sigmas", "only the shifted linear schedule is implemented");
  r.require_off("use_beta_sigmas", "only the shifted linear schedule is implemented");
  r.require_off("stochastic_sampling", "stochastic sampling is not implemented");
  r.one_of("time_shift_type", "exponential", {"exponential", "linear"});
  return c;
}

ScmConfig parse_scm(const ConfigReader& r) {
  ScmConfig c;
  c.num_train_timesteps = train_timesteps(r);
  r.one_of("prediction_type", "trigflow", {"trigflow"});
  c.sigma_data = positive_finite(r, "sigma_data", 0.5);
  return c;
}

}  // namespace

std::string_view sampler_kind_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::FlowDpmSolver:
      return "flow_dpm_solver";
    case SamplerKind::FlowEuler:
      return "flow_euler";
    case SamplerKind::Scm:
      return "scm";
  }
  return "unknown";
}

SamplerKind parse_sampler_kind(std::string_view name) {
  if (name == "flow_dpm_solver" || name == "flow_dpm" || name == "dpm") return SamplerKind::FlowDpmSolver;
  if (name == "flow_euler" || name == "euler") return SamplerKind::FlowEuler;
  if (name == "scm" || name == "scm_trigflow") return SamplerKind::Scm;
  fail("unknown sampler \"" + std::string(name) + "\" (expected flow_dpm_solver, flow_euler or scm)");
}

SamplerKind SamplerConfig::kind() const {
  if (std::holds_alternative<FlowDpmSolverConfig>(scheduler)) return SamplerKind::FlowDpmSolver;
  if (std::holds_alternative<FlowEulerConfig>(scheduler)) return SamplerKind::FlowEuler;
  return SamplerKind::Scm;
}

std::optional<SamplerKind> scheduler_config_kind(const nlohmann::json& config) {
  if (!config.is_object()) return std::nullopt;
  if (auto it = config.find("_class_name"); it != config.end() && it->is_string()) {
    const std::string name = it->get<std::string>();
    if (name == kDpmClass) return SamplerKind::FlowDpmSolver;
    if (name == kEulerClass) return SamplerKind::FlowEuler;
    if (name == kScmClass) return SamplerKind::Scm;
    return std::nullopt;
  }
  const bool dpm = has_any(config, {"algorithm_type", "solver_order", "use_flow_sigmas", "flow_shift"});
  const bool euler = has_any(config, {"shift", "invert_sigmas", "shift_terminal", "stochastic_sampling"});
  auto prediction = config.find("prediction_type");
  const bool scm = config.contains("sigma_data") ||
                   (prediction != config.end() && prediction->is_string() && *prediction == "trigflow");
  if (dpm + euler + scm != 1) return std::nullopt;
  if (dpm) return SamplerKind::FlowDpmSolver;
  if (euler) return SamplerKind::FlowEuler;
  return SamplerKind::Scm;
}

SamplerConfig sampler_config_from_json(std::optional<SamplerKind> requested, const nlohmann::json& config,
                                       const std::string& origin) {
  const ConfigReader r(config, origin);
  const std::optional<SamplerKind> described = scheduler_config_kind(config);
  if (!described) {
    const std::string cls = r.string("_class_name", "");
    fail(origin + ": " +
         (cls.empty() ? std::string("cannot tell which scheduler this config describes")
                      : "scheduler class \"" + cls + "\" is not supported") +
         " (supported: DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler, SCMScheduler)");
  }
  const SamplerKind kind = requested.value_or(*described);
  const bool wants_scm = kind == SamplerKind::Scm;
  const bool is_scm = *described == SamplerKind::Scm;
  if (wants_scm != is_scm)
    fail(origin + ": the " + std::string(sampler_kind_name(kind)) + " sampler cannot run a model whose scheduler is " +
         std::string(sampler_kind_name(*described)) +
         " (TrigFlow and flow-matching models predict different quantities)");

  SamplerConfig out;
  switch (kind) {
    case SamplerKind::Scm:
      out.scheduler = parse_scm(r);
      break;
    case SamplerKind::FlowDpmSolver:
      if (*described == SamplerKind::FlowDpmSolver) {
        out.scheduler = parse_dpm(r);
      } else {
        // Sana's DPM-Solver settings around the Euler config's shift.
        const FlowEulerConfig euler = parse_euler(r);
        FlowDpmSolverConfig dpm;
        dpm.num_train_timesteps = euler.num_train_timesteps;
        dpm.flow_shift = euler.shift;
        out.scheduler = dpm;
      }
      break;
    case SamplerKind::FlowEuler:
      if (*described == SamplerKind::FlowEuler) {
        out.scheduler = parse_euler(r);
      } else {
        // What convert_sana_to_diffusers.py builds for the flow_euler sampler.
        const FlowDpmSolverConfig dpm = parse_dpm(r);
        out.scheduler = FlowEulerConfig{dpm.num_train_timesteps, dpm.flow_shift};
      }
      break;
  }
  return out;
}

SamplerConfig sampler_config_from_model(std::optional<SamplerKind> kind, const std::filesystem::path& model_root) {
  const auto scheduler_path = model_root / "scheduler" / "scheduler_config.json";
  check(std::filesystem::exists(scheduler_path),
        model_root.string() + ": not a diffusers model folder (missing scheduler/scheduler_config.json)");
  const nlohmann::json scheduler = read_json_file(scheduler_path);
  SamplerConfig config = sampler_config_from_json(kind, scheduler, scheduler_path.string());
  const auto transformer_path = model_root / "transformer" / "config.json";
  if (std::filesystem::exists(transformer_path)) {
    const nlohmann::json transformer = read_json_file(transformer_path);
    const ConfigReader r(transformer, transformer_path.string());
    config.timestep_scale = positive_finite(r, "timestep_scale", 1.0);
  }
  return config;
}

}  // namespace sana
