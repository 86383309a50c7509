// The denoising loop as JS sees it:
//   loadDenoiser(modelDir, {backend?}) -> Promise<Denoiser>
//   denoiser.run(request, onStep?) -> Promise<{latents, shape, stepsCompleted, cancelled}>
//   denoiser.cancel()  stops the run in flight before its next step
// The loop runs on a libuv worker thread; after each step a copy of the latents and of the
// x0 prediction is queued to the JS thread for onStep (previews, progress).
#include <napi.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "node/bindings.h"
#include "node/napi_util.h"
#include "node/promise_worker.h"
#include "sana/denoise.h"
#include "sana/error.h"
#include "sana/model_folder.h"

namespace sana::node {

namespace {

struct DenoiserHandle {
  DenoiserHandle(SanaTransformer m, std::filesystem::path r)
      : model(std::move(m)), root(std::move(r)), scheduler(read_json_file(root / "scheduler" / "scheduler_config.json")) {}
  SanaTransformer model;
  std::filesystem::path root;
  Json scheduler;  // the folder's scheduler_config.json, read once at load
  std::mutex busy;        // the transformer's workspace serves one run at a time
  bool running = false;   // touched on the JS thread only: refuses a second run up front
  std::atomic<bool> cancel{false};
};
using Handle = std::shared_ptr<DenoiserHandle>;

struct StepReport {
  int step = 0, total = 0;
  float timestep = 0;
  std::vector<float> latents, denoised, model_output;
};

struct RunOptions {
  bool capture_model_output = false;  // the raw transformer batch per step (golden checks)
};

// ---- JS -> C++ -------------------------------------------------------------------------------

Napi::Value field(const Napi::Object& o, const char* key) { return o.Get(key); }
bool present(const Napi::Value& v) { return !v.IsUndefined() && !v.IsNull(); }

std::vector<float> floats(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, what + " must be a Float32Array");
  const Napi::Float32Array a = v.As<Napi::Float32Array>();
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

int64_t integer(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, what + " must be an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) throw Napi::TypeError::New(env, what + " must be an integer");
  return static_cast<int64_t>(d);
}

double number(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, what + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

PromptEmbeddings embeddings(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, what + " must be {embeds, mask, batch, tokens}");
  const Napi::Object o = v.As<Napi::Object>();
  PromptEmbeddings p;
  p.embeds = floats(env, field(o, "embeds"), what + ".embeds");
  p.mask = floats(env, field(o, "mask"), what + ".mask");
  p.batch = integer(env, field(o, "batch"), what + ".batch");
  p.tokens = integer(env, field(o, "tokens"), what + ".tokens");
  return p;
}

uint64_t seed_of(Napi::Env env, const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(env, "seed must fit in 64 bits");
    return s;
  }
  const int64_t s = integer(env, v, "seed");
  if (s < 0) throw Napi::RangeError::New(env, "seed must not be negative");
  return static_cast<uint64_t>(s);
}

// The model's own scheduler unless the request names a sampler, a scheduler config (JSON
// text) or Sprint's schedule arguments.
SamplerConfig read_sampler(Napi::Env env, const Napi::Object& o, const DenoiserHandle& handle) {
  std::optional<SamplerKind> kind;
  if (present(field(o, "sampler"))) {
    if (!field(o, "sampler").IsString()) throw Napi::TypeError::New(env, "sampler must be a string");
    kind = parse_sampler_kind(field(o, "sampler").As<Napi::String>().Utf8Value());
  }
  SamplerConfig config;
  if (present(field(o, "schedulerConfig"))) {
    if (!field(o, "schedulerConfig").IsString()) throw Napi::TypeError::New(env, "schedulerConfig must be JSON text");
    config = sampler_config_from_json(kind, parse_json(field(o, "schedulerConfig").As<Napi::String>().Utf8Value(),
                                                       "schedulerConfig"), "schedulerConfig");
  } else {
    config = sampler_config_from_json(kind, handle.scheduler, (handle.root / "scheduler").string());
  }
  config.timestep_scale = handle.model.config().timestep_scale;
  if (auto* scm = std::get_if<ScmConfig>(&config.scheduler)) {
    if (present(field(o, "maxTimesteps"))) scm->max_timesteps = number(env, field(o, "maxTimesteps"), "maxTimesteps");
    const Napi::Value intermediate = field(o, "intermediateTimesteps");
    if (intermediate.IsNull()) scm->intermediate_timesteps.reset();
    else if (!intermediate.IsUndefined())
      scm->intermediate_timesteps = number(env, intermediate, "intermediateTimesteps");
  }
  return config;
}

DenoiseRequest read_request(Napi::Env env, const Napi::Object& o, const DenoiserHandle& handle) {
  DenoiseRequest r;
  r.batch = integer(env, field(o, "batch"), "batch");
  r.height = integer(env, field(o, "height"), "height");
  r.width = integer(env, field(o, "width"), "width");
  r.steps = static_cast<int>(integer(env, field(o, "steps"), "steps"));
  r.guidance_scale = number(env, field(o, "guidanceScale"), "guidanceScale");
  r.prompt = embeddings(env, field(o, "prompt"), "prompt");
  if (present(field(o, "negative"))) r.negative = embeddings(env, field(o, "negative"), "negative");
  if (present(field(o, "latents"))) r.latents = floats(env, field(o, "latents"), "latents");
  if (present(field(o, "seed"))) r.seed = seed_of(env, field(o, "seed"));
  if (present(field(o, "stepNoise"))) r.step_noise = floats(env, field(o, "stepNoise"), "stepNoise");
  if (present(field(o, "pagScale"))) r.pag_scale = number(env, field(o, "pagScale"), "pagScale");
  if (present(field(o, "pagLayers"))) {
    const Napi::Value layers = field(o, "pagLayers");
    if (!layers.IsArray()) throw Napi::TypeError::New(env, "pagLayers must be an array of block indices");
    const Napi::Array a = layers.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) r.pag_layers.push_back(static_cast<int>(integer(env, a.Get(i), "pagLayers[]")));
  }
  if (present(field(o, "pagAdaptiveScale")))
    r.pag_adaptive_scale = number(env, field(o, "pagAdaptiveScale"), "pagAdaptiveScale");
  r.sampler = read_sampler(env, o, handle);
  return r;
}

// ---- C++ -> JS -------------------------------------------------------------------------------

Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// ---- workers ---------------------------------------------------------------------------------

class LoadWorker final : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string dir, std::string backend)
      : PromiseWorker(env, "sana:loadDenoiser"), dir_(std::move(dir)), backend_(std::move(backend)) {}

 private:
  void run() override {
    const std::filesystem::path root(dir_);
    handle_ = std::make_shared<DenoiserHandle>(SanaTransformer::load(root, backend_), root);
  }
  void OnOK() override;

  std::string dir_, backend_;
  Handle handle_;
};

class RunWorker : public Napi::AsyncProgressQueueWorker<StepReport> {
 public:
  RunWorker(Napi::Env env, Handle handle, DenoiseRequest request, Napi::Function on_step, RunOptions options)
      : Napi::AsyncProgressQueueWorker<StepReport>(env, "sana:denoise"),
        deferred_(Napi::Promise::Deferred::New(env)), handle_(std::move(handle)), request_(std::move(request)),
        options_(options) {
    if (!on_step.IsEmpty()) on_step_ = Napi::Persistent(on_step);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    std::lock_guard lock(handle_->busy);
    try {
      const bool observe = !on_step_.IsEmpty();
      result_ = denoise(
          handle_->model, request_,
          [&](const DenoiseStep& s) {
            if (!observe) return;
            StepReport report{s.step, s.total, s.transformer_timestep,
                              std::vector<float>(s.latents.begin(), s.latents.end()),
                              std::vector<float>(s.denoised.begin(), s.denoised.end()),
                              {}};
            if (options_.capture_model_output) report.model_output.assign(s.model_output.begin(), s.model_output.end());
            progress.Send(&report, 1);
          },
          &handle_->cancel);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnProgress(const StepReport* reports, size_t count) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; ++i) {
      const StepReport& r = reports[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("step", r.step);
      o.Set("total", r.total);
      o.Set("timestep", r.timestep);
      o.Set("latents", to_js(env, r.latents));
      o.Set("denoised", to_js(env, r.denoised));
      if (options_.capture_model_output) o.Set("modelOutput", to_js(env, r.model_output));
      // An exception thrown by onStep must not stop the engine silently: it is reported
      // through the Promise once the run ends.
      try {
        on_step_.Call({o});
      } catch (const Napi::Error& e) {
        if (callback_error_.empty()) callback_error_ = e.Message();
        handle_->cancel = true;
      }
    }
  }

  void OnOK() override {
    handle_->running = false;
    Napi::Env env = Env();
    if (!callback_error_.empty()) {
      deferred_.Reject(Napi::Error::New(env, "onStep threw: " + callback_error_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("latents", to_js(env, result_.latents));
    Napi::Array shape = Napi::Array::New(env, 4);
    shape.Set(0u, static_cast<double>(request_.batch));
    shape.Set(1u, static_cast<double>(handle_->model.config().in_channels));
    shape.Set(2u, static_cast<double>(request_.height));
    shape.Set(3u, static_cast<double>(request_.width));
    out.Set("shape", shape);
    out.Set("stepsCompleted", result_.steps_completed);
    out.Set("cancelled", result_.cancelled);
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override {
    handle_->running = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Handle handle_;
  DenoiseRequest request_;
  RunOptions options_;
  Napi::FunctionReference on_step_;
  DenoiseResult result_;
  std::string callback_error_;
};

Napi::Object denoiser_to_js(Napi::Env env, Handle handle) {
  Napi::Object o = Napi::Object::New(env);
  const DitConfig& c = handle->model.config();
  o.Set("root", handle->root.string());
  o.Set("latentChannels", static_cast<double>(c.in_channels));
  o.Set("numLayers", static_cast<double>(c.num_layers));
  o.Set("captionChannels", static_cast<double>(c.caption_channels));
  o.Set("guidanceEmbeds", c.guidance_embeds);
  auto shared = std::make_shared<Handle>(handle);
  o.Set("run", Napi::Function::New(env, [shared](const Napi::CallbackInfo& info) -> Napi::Value {
          Napi::Env e = info.Env();
          return promise_guard(e, [&]() -> Napi::Value {
            if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(e, "run: request must be an object");
            const Napi::Object req = info[0].As<Napi::Object>();
            DenoiseRequest request = read_request(e, req, **shared);
            RunOptions options;
            options.capture_model_output = req.Get("captureModelOutput").ToBoolean().Value();
            Napi::Function on_step;
            if (has_arg(info, 1)) {
              if (!info[1].IsFunction()) throw Napi::TypeError::New(e, "run: onStep must be a function");
              on_step = info[1].As<Napi::Function>();
            }
            if ((*shared)->running) throw Napi::Error::New(e, "denoise: this engine is already running a request");
            (*shared)->running = true;
            (*shared)->cancel = false;  // on the JS thread, so a cancel() right after run() is kept
            auto* worker = std::make_unique<RunWorker>(e, *shared, std::move(request), on_step, options).release();  // deletes itself
            Napi::Promise p = worker->promise();
            worker->Queue();
            return p;
          });
        }, "run"));
  o.Set("cancel", Napi::Function::New(env, [shared](const Napi::CallbackInfo& info) -> Napi::Value {
          (*shared)->cancel = true;
          return info.Env().Undefined();
        }, "cancel"));
  return o;
}

void LoadWorker::OnOK() { deferred_.Resolve(denoiser_to_js(Env(), handle_)); }

}  // namespace

void register_denoise(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "loadDenoiser", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string dir = string_arg(info, 0, "loadDenoiser");
    std::string backend = "cpu";
    if (has_arg(info, 1) && info[1].IsObject()) {
      const Napi::Value b = info[1].As<Napi::Object>().Get("backend");
      if (b.IsString()) backend = b.As<Napi::String>().Utf8Value();
    }
    auto* worker = std::make_unique<LoadWorker>(info.Env(), dir, backend).release();  // deletes itself
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  });
}

}  // namespace sana::node
