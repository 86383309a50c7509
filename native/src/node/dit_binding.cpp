// The Sana transformer as JS sees it:
//   loadTransformer(path, {backend?}) -> Promise<Transformer>
//   transformer.encodeText({encoderHiddenStates, encoderShape, encoderMask?}, {capture?}) -> Promise<TextContext>
//   transformer.forward({hiddenStates, shape, timestep, guidance?, text? | encoderHiddenStates..., textIndex?,
//                        pagLayers?, perturbed?}, {capture?}) -> Promise<{sample, intermediates?}>
// Inputs are copied on the JS thread; the model runs in Napi::AsyncWorkers (libuv pool),
// one call at a time per transformer because its workspace is shared across calls.
#include <napi.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "node/bindings.h"
#include "node/napi_util.h"
#include "node/promise_worker.h"
#include "sana/dit.h"
#include "sana/error.h"

namespace sana::node {

namespace {

// Marks the JS objects this file creates, so a foreign object passed as `text` is refused.
constexpr napi_type_tag kTransformerTag = {0x5a4e4144495401ull, 0x7472616e73666f72ull};
constexpr napi_type_tag kTextTag = {0x5a4e414449540002ull, 0x74657874636f6e74ull};

struct TransformerHandle {
  explicit TransformerHandle(SanaTransformer m) : model(std::move(m)) {}
  std::mutex mutex;  // one forward/encode at a time: the workspace is per model
  SanaTransformer model;
};

struct TextHandle {
  std::shared_ptr<TransformerHandle> owner;  // keeps the model alive while its K/V are in use
  DitTextContext text;
};

using Captured = std::vector<std::pair<std::string, Tensor>>;

// ---- JS -> C++ ---------------------------------------------------------------------------------

[[noreturn]] void type_error(Napi::Env env, const std::string& what) { throw Napi::TypeError::New(env, what); }

std::vector<float> float_values(Napi::Env env, const Napi::Value& v, const std::string& what) {
  std::vector<float> out;
  if (v.IsTypedArray()) {
    const Napi::TypedArray ta = v.As<Napi::TypedArray>();
    const size_t n = ta.ElementLength();
    out.resize(n);
    switch (ta.TypedArrayType()) {
      case napi_float32_array: {
        const float* src = v.As<Napi::Float32Array>().Data();
        out.assign(src, src + n);
        return out;
      }
      case napi_float64_array: {
        const double* src = v.As<Napi::Float64Array>().Data();
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
        return out;
      }
      case napi_int32_array: {
        const int32_t* src = v.As<Napi::Int32Array>().Data();
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
        return out;
      }
      case napi_bigint64_array: {
        const int64_t* src = v.As<Napi::BigInt64Array>().Data();
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
        return out;
      }
      case napi_uint8_array: {
        const uint8_t* src = v.As<Napi::Uint8Array>().Data();
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
        return out;
      }
      default:
        type_error(env, what + " must be a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array");
    }
  }
  if (v.IsArray()) {
    const Napi::Array arr = v.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const Napi::Value e = arr.Get(i);
      if (e.IsNumber()) out.push_back(e.As<Napi::Number>().FloatValue());
      else if (e.IsBoolean()) out.push_back(e.As<Napi::Boolean>().Value() ? 1.0f : 0.0f);
      else type_error(env, what + "[" + std::to_string(i) + "] must be a number");
    }
    return out;
  }
  if (v.IsNumber()) return {v.As<Napi::Number>().FloatValue()};
  type_error(env, what + " must be a typed array or an array of numbers");
}

std::vector<int64_t> int_values(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) type_error(env, what + " must be an array of integers");
  const Napi::Array arr = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const Napi::Value e = arr.Get(i);
    if (!e.IsNumber()) type_error(env, what + "[" + std::to_string(i) + "] must be an integer");
    const double d = e.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d))) type_error(env, what + " must hold integers");
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

Napi::Object object_arg(const Napi::CallbackInfo& info, size_t index, const char* fn) {
  if (info.Length() <= index || !info[index].IsObject())
    type_error(info.Env(), std::string(fn) + ": argument " + std::to_string(index + 1) + " must be an object");
  return info[index].As<Napi::Object>();
}

bool capture_option(const Napi::CallbackInfo& info, size_t index) {
  if (!has_arg(info, index) || !info[index].IsObject()) return false;
  const Napi::Value c = info[index].As<Napi::Object>().Get("capture");
  return c.IsBoolean() && c.As<Napi::Boolean>().Value();
}

bool has_key(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

// The caption side of a request, copied out of JS.
struct TextRequest {
  std::vector<float> caption;
  int64_t batch = 0, tokens = 0;
  std::optional<std::vector<float>> mask;
};

TextRequest read_text(Napi::Env env, const Napi::Object& o, const DitConfig& config, const std::string& fn) {
  if (!has_key(o, "encoderHiddenStates") || !has_key(o, "encoderShape"))
    type_error(env, fn + ": encoderHiddenStates and encoderShape are required (or pass text from encodeText)");
  TextRequest t;
  const std::vector<int64_t> shape = int_values(env, o.Get("encoderShape"), fn + ": encoderShape");
  t.caption = float_values(env, o.Get("encoderHiddenStates"), fn + ": encoderHiddenStates");
  check(shape.size() == 3 && shape[2] == config.caption_channels,
        fn + ": encoderShape must be [batch, tokens, " + std::to_string(config.caption_channels) + "]");
  check(shape[0] > 0 && shape[1] > 0, fn + ": encoderShape must be positive");
  check(static_cast<int64_t>(t.caption.size()) == shape[0] * shape[1] * shape[2],
        fn + ": encoderHiddenStates has " + std::to_string(t.caption.size()) + " values, encoderShape needs " +
            std::to_string(shape[0] * shape[1] * shape[2]));
  t.batch = shape[0];
  t.tokens = shape[1];
  if (has_key(o, "encoderMask")) {
    t.mask = float_values(env, o.Get("encoderMask"), fn + ": encoderMask");
    check(static_cast<int64_t>(t.mask->size()) == t.batch * t.tokens,
          fn + ": encoderMask needs batch * tokens = " + std::to_string(t.batch * t.tokens) + " values");
  }
  return t;
}

std::shared_ptr<TransformerHandle> transformer_of(const Napi::Object& self) {
  return *self.Get("_handle").As<Napi::External<std::shared_ptr<TransformerHandle>>>().Data();
}

// ---- C++ -> JS ---------------------------------------------------------------------------------

Napi::Object tensor_to_js(Napi::Env env, const Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Float32Array data = Napi::Float32Array::New(env, static_cast<size_t>(t.numel()));
  if (t.numel() > 0) std::memcpy(data.Data(), t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
  Napi::Array shape = Napi::Array::New(env, t.rank());
  for (size_t i = 0; i < t.rank(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(t.dim(i)));
  o.Set("data", data);
  o.Set("shape", shape);
  return o;
}

Napi::Object captures_to_js(Napi::Env env, const Captured& captured) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [name, t] : captured) o.Set(name, tensor_to_js(env, t));
  return o;
}

Napi::Object config_to_js(Napi::Env env, const DitConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("inChannels", static_cast<double>(c.in_channels));
  o.Set("outChannels", static_cast<double>(c.out_channels));
  o.Set("numLayers", static_cast<double>(c.num_layers));
  o.Set("numAttentionHeads", static_cast<double>(c.num_attention_heads));
  o.Set("attentionHeadDim", static_cast<double>(c.attention_head_dim));
  o.Set("innerDim", static_cast<double>(c.inner_dim()));
  o.Set("numCrossAttentionHeads", static_cast<double>(c.num_cross_attention_heads));
  o.Set("crossAttentionHeadDim", static_cast<double>(c.cross_attention_head_dim));
  o.Set("captionChannels", static_cast<double>(c.caption_channels));
  o.Set("mlpRatio", c.mlp_ratio);
  o.Set("patchSize", static_cast<double>(c.patch_size));
  o.Set("sampleSize", static_cast<double>(c.sample_size));
  o.Set("qkNorm", c.qk_norm);
  o.Set("guidanceEmbeds", c.guidance_embeds);
  o.Set("guidanceEmbedsScale", c.guidance_embeds_scale);
  o.Set("timestepScale", c.timestep_scale);
  o.Set("interpolationScale", c.interpolation_scale ? Napi::Value(Napi::Number::New(env, *c.interpolation_scale))
                                                    : env.Null());
  return o;
}

Napi::Object text_to_js(Napi::Env env, std::shared_ptr<TextHandle> text, const Captured& captured, bool capture) {
  Napi::Object o = Napi::Object::New(env);
  o.TypeTag(&kTextTag);
  o.Set("batch", static_cast<double>(text->text.batch()));
  o.Set("tokens", static_cast<double>(text->text.tokens()));
  o.Set("bytes", static_cast<double>(text->text.bytes()));
  if (capture) o.Set("intermediates", captures_to_js(env, captured));
  o.Set("_handle", Napi::External<std::shared_ptr<TextHandle>>::New(
                       env, std::make_unique<std::shared_ptr<TextHandle>>(std::move(text)).release(),
                       [](Napi::Env, std::shared_ptr<TextHandle>* p) { std::unique_ptr<std::shared_ptr<TextHandle>>{p}; }));
  return o;
}


Napi::Object transformer_to_js(Napi::Env env, std::shared_ptr<TransformerHandle> handle);

class LoadWorker final : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, std::string backend)
      : PromiseWorker(env, "sana:dit"), path_(std::move(path)), backend_(std::move(backend)) {}

 private:
  void run() override { handle_ = std::make_shared<TransformerHandle>(SanaTransformer::load(path_, backend_)); }
  void OnOK() override { deferred_.Resolve(transformer_to_js(Env(), handle_)); }
  std::string path_, backend_;
  std::shared_ptr<TransformerHandle> handle_;
};

class EncodeWorker final : public PromiseWorker {
 public:
  EncodeWorker(Napi::Env env, std::shared_ptr<TransformerHandle> model, TextRequest request, bool capture)
      : PromiseWorker(env, "sana:dit"), model_(std::move(model)), request_(std::move(request)), capture_(capture) {}

 private:
  void run() override {
    std::lock_guard lock(model_->mutex);
    DitCaptures captures;
    text_ = std::make_shared<TextHandle>();
    text_->owner = model_;
    text_->text = model_->model.encode_text(request_.caption.data(), request_.batch, request_.tokens,
                                            request_.mask ? request_.mask->data() : nullptr,
                                            capture_ ? &captures : nullptr);
    captured_ = std::move(captures.tensors);
  }
  void OnOK() override { deferred_.Resolve(text_to_js(Env(), text_, captured_, capture_)); }
  std::shared_ptr<TransformerHandle> model_;
  TextRequest request_;
  bool capture_;
  std::shared_ptr<TextHandle> text_;
  Captured captured_;
};

struct StepRequest {
  std::vector<float> latents;
  std::vector<int64_t> shape;
  std::vector<float> timestep, guidance;
  std::vector<int64_t> text_index;
  std::vector<uint8_t> pag_layers, perturbed;
};

class ForwardWorker final : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<TransformerHandle> model, std::shared_ptr<TextHandle> text,
                std::optional<TextRequest> text_request, StepRequest step, bool capture)
      : PromiseWorker(env, "sana:dit"),
        model_(std::move(model)),
        text_(std::move(text)),
        text_request_(std::move(text_request)),
        step_(std::move(step)),
        capture_(capture) {}

 private:
  void run() override {
    std::lock_guard lock(model_->mutex);
    DitCaptures captures;
    DitCaptures* cap = capture_ ? &captures : nullptr;
    DitTextContext local;
    const DitTextContext* text = text_ ? &text_->text : nullptr;
    if (!text) {
      const TextRequest& r = *text_request_;
      local = model_->model.encode_text(r.caption.data(), r.batch, r.tokens, r.mask ? r.mask->data() : nullptr, cap);
      text = &local;
    }
    DitStepInput in;
    in.latents = step_.latents.data();
    in.batch = step_.shape[0];
    in.height = step_.shape[2];
    in.width = step_.shape[3];
    in.timestep = step_.timestep.data();
    in.guidance = step_.guidance.empty() ? nullptr : step_.guidance.data();
    in.text_index = step_.text_index;
    in.pag_layers = step_.pag_layers;
    in.perturbed = step_.perturbed;
    sample_ = model_->model.forward(*text, in, cap);
    captured_ = std::move(captures.tensors);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("sample", tensor_to_js(env, sample_));
    if (capture_) out.Set("intermediates", captures_to_js(env, captured_));
    deferred_.Resolve(out);
  }
  std::shared_ptr<TransformerHandle> model_;
  std::shared_ptr<TextHandle> text_;
  std::optional<TextRequest> text_request_;
  StepRequest step_;
  bool capture_;
  Tensor sample_;
  Captured captured_;
};

// ---- methods -----------------------------------------------------------------------------------

Napi::Value encode_text_method(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto model = transformer_of(info.This().As<Napi::Object>());
  const Napi::Object input = object_arg(info, 0, "encodeText");
  TextRequest request = read_text(env, input, model->model.config(), "encodeText");
  // N-API owns queued workers: AsyncWorker deletes itself after OnOK/OnError.
  auto* worker = std::make_unique<EncodeWorker>(env, model, std::move(request), capture_option(info, 1)).release();
  const Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value forward_method(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto model = transformer_of(info.This().As<Napi::Object>());
  const DitConfig& config = model->model.config();
  const Napi::Object o = object_arg(info, 0, "forward");

  StepRequest step;
  if (!has_key(o, "hiddenStates") || !has_key(o, "shape") || !has_key(o, "timestep"))
    type_error(env, "forward: hiddenStates, shape and timestep are required");
  step.shape = int_values(env, o.Get("shape"), "forward: shape");
  check(step.shape.size() == 4 && step.shape[1] == config.in_channels,
        "forward: shape must be [batch, " + std::to_string(config.in_channels) + ", height, width]");
  check(step.shape[0] > 0 && step.shape[2] > 0 && step.shape[3] > 0, "forward: shape must be positive");
  const int64_t batch = step.shape[0];
  step.latents = float_values(env, o.Get("hiddenStates"), "forward: hiddenStates");
  check(static_cast<int64_t>(step.latents.size()) == batch * step.shape[1] * step.shape[2] * step.shape[3],
        "forward: hiddenStates has " + std::to_string(step.latents.size()) + " values, shape needs " +
            std::to_string(batch * step.shape[1] * step.shape[2] * step.shape[3]));
  const auto per_item = [&](const char* key) {
    std::vector<float> v = float_values(env, o.Get(key), std::string("forward: ") + key);
    if (v.size() == 1) v.assign(static_cast<size_t>(batch), v[0]);  // one value for the whole batch
    check(static_cast<int64_t>(v.size()) == batch,
          std::string("forward: ") + key + " needs 1 or batch = " + std::to_string(batch) + " values");
    return v;
  };
  step.timestep = per_item("timestep");
  if (has_key(o, "guidance")) step.guidance = per_item("guidance");
  if (has_key(o, "textIndex")) step.text_index = int_values(env, o.Get("textIndex"), "forward: textIndex");
  if (has_key(o, "pagLayers")) {
    step.pag_layers.assign(static_cast<size_t>(config.num_layers), 0);
    for (int64_t layer : int_values(env, o.Get("pagLayers"), "forward: pagLayers")) {
      check(layer >= 0 && layer < config.num_layers,
            "forward: pagLayers entry " + std::to_string(layer) + " is not a layer index");
      step.pag_layers[static_cast<size_t>(layer)] = 1;
    }
  }
  if (has_key(o, "perturbed")) {
    for (float f : float_values(env, o.Get("perturbed"), "forward: perturbed")) step.perturbed.push_back(f != 0.0f);
  }

  std::shared_ptr<TextHandle> text;
  std::optional<TextRequest> text_request;
  if (has_key(o, "text")) {
    const Napi::Value tv = o.Get("text");
    if (!tv.IsObject() || !tv.As<Napi::Object>().CheckTypeTag(&kTextTag))
      type_error(env, "forward: text must be a TextContext returned by encodeText");
    text = *tv.As<Napi::Object>().Get("_handle").As<Napi::External<std::shared_ptr<TextHandle>>>().Data();
    check(text->owner == model, "forward: text was encoded by a different transformer");
  } else {
    text_request = read_text(env, o, config, "forward");
  }
  auto* worker = std::make_unique<ForwardWorker>(env, model, std::move(text), std::move(text_request),
                                                std::move(step), capture_option(info, 1))
                     .release();
  const Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Object transformer_to_js(Napi::Env env, std::shared_ptr<TransformerHandle> handle) {
  Napi::Object o = Napi::Object::New(env);
  o.TypeTag(&kTransformerTag);
  o.Set("config", config_to_js(env, handle->model.config()));
  o.Set("backend", handle->model.backend_name());
  o.Set("weightBytes", static_cast<double>(handle->model.weight_bytes()));
  o.Set("_handle", Napi::External<std::shared_ptr<TransformerHandle>>::New(
                       env, std::make_unique<std::shared_ptr<TransformerHandle>>(std::move(handle)).release(),
                       [](Napi::Env, std::shared_ptr<TransformerHandle>* p) {
                         std::unique_ptr<std::shared_ptr<TransformerHandle>>{p};
                       }));
  const auto method = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    o.Set(name, Napi::Function::New(
                    env,
                    [fn, name](const Napi::CallbackInfo& info) -> Napi::Value {
                      if (!info.This().IsObject() || !info.This().As<Napi::Object>().CheckTypeTag(&kTransformerTag))
                        throw Napi::TypeError::New(info.Env(), std::string(name) + " must be called on a Transformer");
                      return promise_guard(info.Env(), [&] { return fn(info); });
                    },
                    name));
  };
  method("encodeText", &encode_text_method);
  method("forward", &forward_method);
  return o;
}

}  // namespace

static Napi::Value load_transformer(const Napi::CallbackInfo& info) {
  const std::string path = string_arg(info, 0, "loadTransformer");
  std::string backend = "cpu";
  if (has_arg(info, 1) && info[1].IsObject()) {
    const Napi::Value b = info[1].As<Napi::Object>().Get("backend");
    if (b.IsString()) backend = b.As<Napi::String>().Utf8Value();
  }
  auto* worker = std::make_unique<LoadWorker>(info.Env(), path, backend).release();
  const Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

void register_dit(Napi::Env env, Napi::Object exports) {
  exports.Set("loadTransformer", Napi::Function::New(
                                     env,
                                     [](const Napi::CallbackInfo& info) -> Napi::Value {
                                       return promise_guard(info.Env(), [&] { return load_transformer(info); });
                                     },
                                     "loadTransformer"));
}

}  // namespace sana::node
