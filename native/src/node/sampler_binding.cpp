// Samplers and guidance as JS sees them: createSampler(spec) returns an object whose methods
// drive one sana::Sampler on Float32Arrays (the golden runner and tests use it; the engine's
// own denoising loop calls the C++ API directly). Inputs are never modified: every method
// that produces latents returns a new Float32Array.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "node/bindings.h"
#include "node/napi_util.h"
#include "sana/error.h"
#include "sana/guidance.h"
#include "sana/model_folder.h"
#include "sana/sampler.h"

namespace sana::node {

namespace {

std::span<const float> float32_arg(const Napi::CallbackInfo& info, size_t index, const std::string& fn) {
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), fn + ": argument " + std::to_string(index + 1) + " must be a Float32Array");
  auto array = info[index].As<Napi::Float32Array>();
  return {array.Data(), array.ElementLength()};
}

// A JS number that must be a (small) integer: step counts and indices.
bool is_int(double value) { return std::trunc(value) == value && std::abs(value) <= 1e9; }

int step_arg(const Napi::CallbackInfo& info, size_t index, const std::string& fn) {
  const double value = number_arg(info, index, fn.c_str());
  if (!is_int(value))
    throw Napi::TypeError::New(info.Env(), fn + ": argument " + std::to_string(index + 1) + " must be an integer");
  return static_cast<int>(value);
}

Napi::Float32Array new_float32(Napi::Env env, std::span<const float> values) {
  Napi::Float32Array out = Napi::Float32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), out.Data());
  return out;
}

// The scheduler config of a spec: a JSON text, or any JS value JSON.stringify accepts.
nlohmann::json config_value(Napi::Env env, Napi::Value value) {
  std::string text;
  if (value.IsString()) {
    text = value.As<Napi::String>().Utf8Value();
  } else {
    Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
    Napi::Value encoded = json.Get("stringify").As<Napi::Function>().Call(json, {value});
    if (!encoded.IsString()) throw Napi::TypeError::New(env, "createSampler: config cannot be encoded as JSON");
    text = encoded.As<Napi::String>().Utf8Value();
  }
  return parse_json(text, "createSampler config");
}

std::optional<double> optional_number(Napi::Object spec, const char* key) {
  Napi::Value value = spec.Get(key);
  if (value.IsUndefined() || value.IsNull()) return std::nullopt;
  if (!value.IsNumber())
    throw Napi::TypeError::New(spec.Env(), std::string("createSampler: \"") + key + "\" must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

SamplerConfig config_from_spec(Napi::Env env, Napi::Object spec) {
  Napi::Value kind_value = spec.Get("kind");
  std::optional<SamplerKind> kind;
  if (!kind_value.IsUndefined() && !kind_value.IsNull()) {
    if (!kind_value.IsString()) throw Napi::TypeError::New(env, "createSampler: \"kind\" must be a string");
    const std::string name = kind_value.As<Napi::String>().Utf8Value();
    if (name != "auto") kind = parse_sampler_kind(name);
  }
  const bool has_config = !spec.Get("config").IsUndefined();
  const bool has_model = !spec.Get("modelPath").IsUndefined();
  if (has_config == has_model)
    throw Napi::TypeError::New(env, "createSampler: give exactly one of \"config\" and \"modelPath\"");

  SamplerConfig config;
  if (has_model) {
    Napi::Value path = spec.Get("modelPath");
    if (!path.IsString()) throw Napi::TypeError::New(env, "createSampler: \"modelPath\" must be a string");
    config = sampler_config_from_model(kind, path.As<Napi::String>().Utf8Value());
  } else {
    config = sampler_config_from_json(kind, config_value(env, spec.Get("config")), "createSampler config");
  }
  if (auto scale = optional_number(spec, "timestepScale")) config.timestep_scale = *scale;
  if (auto* scm = std::get_if<ScmConfig>(&config.scheduler)) {
    if (auto max = optional_number(spec, "maxTimesteps")) scm->max_timesteps = *max;
    // null switches the 2-step intermediate angle off; undefined keeps the default 1.3.
    Napi::Value intermediate = spec.Get("intermediateTimesteps");
    if (intermediate.IsNull()) scm->intermediate_timesteps.reset();
    else if (auto value = optional_number(spec, "intermediateTimesteps")) scm->intermediate_timesteps = *value;
  }
  return config;
}

Napi::Value timesteps_to_js(Napi::Env env, const Sampler& sampler) {
  const std::vector<double> values = sampler.timesteps();
  if (sampler.timestep_dtype() == DType::I64) {
    Napi::BigInt64Array out = Napi::BigInt64Array::New(env, values.size());
    for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<int64_t>(values[i]);
    return out;
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return out;
}

// Marks the objects createSampler returns, so a method called on anything else is refused.
constexpr napi_type_tag kSamplerTag = {0x53414e4153414d50ull, 0x4c45525f48414e44ull};

using SamplerHandle = std::shared_ptr<Sampler>;

// The methods are shared, capture-free functions (a closure per object would never be
// freed: node-addon-api does not release lambda data); the sampler travels in `this`.
Sampler& self_sampler(const Napi::CallbackInfo& info, const std::string& fn) {
  Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&kSamplerTag))
    throw Napi::TypeError::New(info.Env(), fn + ": call it as a method of an object from createSampler()");
  return **self.As<Napi::Object>().Get("_handle").As<Napi::External<SamplerHandle>>().Data();
}

template <Napi::Value (*Body)(const Napi::CallbackInfo&)>
Napi::Value guarded_method(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Body(info); });
}

Napi::Value step_index_method(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), self_sampler(info, "stepIndex").step_index());
}

Napi::Value timesteps_method(const Napi::CallbackInfo& info) {
  return timesteps_to_js(info.Env(), self_sampler(info, "timesteps"));
}

Napi::Value sigmas_method(const Napi::CallbackInfo& info) {
  const std::vector<float> sigmas = self_sampler(info, "sigmas").sigmas();
  return new_float32(info.Env(), sigmas);
}

Napi::Value transformer_timestep_method(const Napi::CallbackInfo& info) {
  const std::string fn = "transformerTimestep";
  Sampler& sampler = self_sampler(info, fn);
  return Napi::Number::New(info.Env(), sampler.transformer_timestep(step_arg(info, 0, fn)));
}

Napi::Value model_input_method(const Napi::CallbackInfo& info) {
  const std::string fn = "modelInput";
  Sampler& sampler = self_sampler(info, fn);
  const int step = step_arg(info, 0, fn);
  const auto latents = float32_arg(info, 1, fn);
  Napi::Float32Array result = Napi::Float32Array::New(info.Env(), latents.size());
  sampler.model_input(step, latents, {result.Data(), result.ElementLength()});
  return result;
}

Napi::Value model_output_to_step_input_method(const Napi::CallbackInfo& info) {
  const std::string fn = "modelOutputToStepInput";
  Sampler& sampler = self_sampler(info, fn);
  const int step = step_arg(info, 0, fn);
  const auto input = float32_arg(info, 1, fn);
  const auto output = float32_arg(info, 2, fn);
  Napi::Float32Array result = Napi::Float32Array::New(info.Env(), output.size());
  sampler.model_output_to_step_input(step, input, output, {result.Data(), result.ElementLength()});
  return result;
}

Napi::Value step_method(const Napi::CallbackInfo& info) {
  const std::string fn = "step";
  Sampler& sampler = self_sampler(info, fn);
  const auto model_output = float32_arg(info, 0, fn);
  const auto sample = float32_arg(info, 1, fn);
  std::span<const float> noise;
  if (has_arg(info, 2)) noise = float32_arg(info, 2, fn);
  Napi::Float32Array result = new_float32(info.Env(), sample);
  sampler.step(model_output, {result.Data(), result.ElementLength()}, noise);
  return result;
}

Napi::Value denoised_method(const Napi::CallbackInfo& info) {
  return new_float32(info.Env(), self_sampler(info, "denoised").denoised());
}

Napi::Value final_latents_method(const Napi::CallbackInfo& info) {
  const std::string fn = "finalLatents";
  Sampler& sampler = self_sampler(info, fn);
  const auto sample = float32_arg(info, 0, fn);
  Napi::Float32Array result = Napi::Float32Array::New(info.Env(), sample.size());
  sampler.final_latents(sample, {result.Data(), result.ElementLength()});
  return result;
}

Napi::Value reset_method(const Napi::CallbackInfo& info) {
  self_sampler(info, "reset").reset();
  return info.Env().Undefined();
}

Napi::Value create_sampler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "createSampler: argument 1 must be an object {kind, config | modelPath, steps}");
  Napi::Object spec = info[0].As<Napi::Object>();
  Napi::Value steps_value = spec.Get("steps");
  if (!steps_value.IsNumber()) throw Napi::TypeError::New(env, "createSampler: \"steps\" must be a number");
  const double steps = steps_value.As<Napi::Number>().DoubleValue();
  if (!is_int(steps))
    throw Napi::TypeError::New(env, "createSampler: \"steps\" must be an integer");

  SamplerHandle sampler = make_sampler(config_from_spec(env, spec), static_cast<int>(steps));
  Napi::Object out = Napi::Object::New(env);
  out.TypeTag(&kSamplerTag);
  out.Set("kind", std::string(sampler_kind_name(sampler->kind())));
  out.Set("numSteps", sampler->num_steps());
  out.Set("needsNoise", sampler->needs_noise());
  out.Set("initialLatentScale", sampler->initial_latent_scale());
  auto handle = Napi::External<SamplerHandle>::New(env, std::make_unique<SamplerHandle>(std::move(sampler)).release(),
                                                   [](Napi::Env, SamplerHandle* p) { std::unique_ptr<SamplerHandle>{p}; });
  out.DefineProperty(Napi::PropertyDescriptor::Value("_handle", handle, napi_default));
  out.Set("stepIndex", Napi::Function::New<guarded_method<step_index_method>>(env, "stepIndex"));
  out.Set("timesteps", Napi::Function::New<guarded_method<timesteps_method>>(env, "timesteps"));
  out.Set("sigmas", Napi::Function::New<guarded_method<sigmas_method>>(env, "sigmas"));
  out.Set("transformerTimestep",
          Napi::Function::New<guarded_method<transformer_timestep_method>>(env, "transformerTimestep"));
  out.Set("modelInput", Napi::Function::New<guarded_method<model_input_method>>(env, "modelInput"));
  out.Set("modelOutputToStepInput",
          Napi::Function::New<guarded_method<model_output_to_step_input_method>>(env, "modelOutputToStepInput"));
  out.Set("step", Napi::Function::New<guarded_method<step_method>>(env, "step"));
  out.Set("denoised", Napi::Function::New<guarded_method<denoised_method>>(env, "denoised"));
  out.Set("finalLatents", Napi::Function::New<guarded_method<final_latents_method>>(env, "finalLatents"));
  out.Set("reset", Napi::Function::New<guarded_method<reset_method>>(env, "reset"));
  return out;
}

// One guided prediction per image from the model batch `parts` times as large.
template <typename Combine>
Napi::Value guided(const Napi::CallbackInfo& info, const char* fn, size_t parts, Combine combine) {
  const auto model_output = float32_arg(info, 0, fn);
  if (model_output.size() % parts != 0)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": the model output does not split into " +
                                                std::to_string(parts) + " equal parts");
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), model_output.size() / parts);
  combine(model_output, std::span<float>(out.Data(), out.ElementLength()));
  return out;
}

}  // namespace

void register_sampler(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "createSampler", create_sampler);
  export_function(env, exports, "cfgCombine", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const auto g = static_cast<float>(number_arg(info, 1, "cfgCombine"));
    return guided(info, "cfgCombine", 2, [g](auto in, auto out) { cfg_combine(in, g, out); });
  });
  export_function(env, exports, "cfgPagCombine", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const auto g = static_cast<float>(number_arg(info, 1, "cfgPagCombine"));
    const auto pag = static_cast<float>(number_arg(info, 2, "cfgPagCombine"));
    return guided(info, "cfgPagCombine", 3, [g, pag](auto in, auto out) { cfg_pag_combine(in, g, pag, out); });
  });
  export_function(env, exports, "pagCombine", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const auto pag = static_cast<float>(number_arg(info, 1, "pagCombine"));
    return guided(info, "pagCombine", 2, [pag](auto in, auto out) { pag_combine(in, pag, out); });
  });
  export_function(env, exports, "embeddedGuidance", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), embedded_guidance(number_arg(info, 0, "embeddedGuidance"),
                                                           number_arg(info, 1, "embeddedGuidance")));
  });
}

}  // namespace sana::node
