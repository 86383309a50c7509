// The Gemma-2 text encoder as JS sees it:
//   loadTextEncoder(path, {backend?}) -> Promise<TextEncoder>
//   textEncoder.encode(inputIds, attentionMask, [batch, tokens]) -> Promise<Float32Array>
//     (last_hidden_state, (batch, tokens, hiddenSize) row-major)
// Loading widens every weight to float32 (seconds for gemma-2-2b) and encoding runs the
// whole model, so both run in Napi::AsyncWorkers on the libuv pool, never on the JS thread.
// Inputs are copied on the JS thread before the worker starts.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "node/bindings.h"
#include "node/napi_util.h"
#include "node/promise_worker.h"
#include "sana/error.h"
#include "sana/gemma2.h"

namespace sana::node {

namespace {

// Marks the objects this file creates, so encode() refuses a foreign `this`.
constexpr napi_type_tag kTextEncoderTag = {0x5a4e4147454d4d41ull, 0x32746578745f656eull};

using Handle = std::shared_ptr<const Gemma2TextEncoder>;

[[noreturn]] void type_error(Napi::Env env, const std::string& what) { throw Napi::TypeError::New(env, what); }

// Token ids / mask values from an Int32Array, BigInt64Array (as safetensors int64 tensors
// arrive) or an array of integers, range-checked into int32.
std::vector<int32_t> int32_values(Napi::Env env, const Napi::Value& v, const std::string& what) {
  std::vector<int32_t> out;
  const auto push = [&](double x) {
    if (!(x >= -2147483648.0 && x <= 2147483647.0) || x != static_cast<double>(static_cast<int64_t>(x)))
      type_error(env, what + " holds " + std::to_string(x) + ", not a 32-bit integer");
    out.push_back(static_cast<int32_t>(x));
  };
  if (v.IsTypedArray()) {
    const Napi::TypedArray ta = v.As<Napi::TypedArray>();
    const size_t n = ta.ElementLength();
    out.reserve(n);
    if (ta.TypedArrayType() == napi_int32_array) {
      const int32_t* src = v.As<Napi::Int32Array>().Data();
      out.assign(src, src + n);
      return out;
    }
    if (ta.TypedArrayType() == napi_bigint64_array) {
      const int64_t* src = v.As<Napi::BigInt64Array>().Data();
      for (size_t i = 0; i < n; ++i) push(static_cast<double>(src[i]));
      return out;
    }
  } else if (v.IsArray()) {
    const Napi::Array a = v.As<Napi::Array>();
    out.reserve(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const Napi::Value item = a.Get(i);
      if (!item.IsNumber()) type_error(env, what + "[" + std::to_string(i) + "] is not a number");
      push(item.As<Napi::Number>().DoubleValue());
    }
    return out;
  }
  type_error(env, what + " must be an Int32Array, a BigInt64Array or an array of integers");
}

Napi::Object config_to_js(Napi::Env env, const Gemma2Config& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("intermediateSize", static_cast<double>(c.intermediate_size));
  o.Set("numHiddenLayers", static_cast<double>(c.num_hidden_layers));
  o.Set("numAttentionHeads", static_cast<double>(c.num_attention_heads));
  o.Set("numKeyValueHeads", static_cast<double>(c.num_key_value_heads));
  o.Set("headDim", static_cast<double>(c.head_dim));
  o.Set("rmsNormEps", c.rms_norm_eps);
  o.Set("ropeTheta", c.rope_theta);
  o.Set("queryPreAttnScalar", c.query_pre_attn_scalar);
  o.Set("attnLogitSoftcapping",
        c.attn_logit_softcapping ? Napi::Value(Napi::Number::New(env, *c.attn_logit_softcapping)) : env.Null());
  o.Set("slidingWindow",
        c.sliding_window ? Napi::Value(Napi::Number::New(env, static_cast<double>(*c.sliding_window))) : env.Null());
  Napi::Array types = Napi::Array::New(env, c.sliding_layers.size());
  for (size_t i = 0; i < c.sliding_layers.size(); ++i)
    types.Set(static_cast<uint32_t>(i), c.sliding_layers[i] ? "sliding_attention" : "full_attention");
  o.Set("layerTypes", types);
  return o;
}


Napi::Object encoder_to_js(Napi::Env env, Handle handle);

class LoadWorker final : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, std::string backend)
      : PromiseWorker(env, "sana:text_encoder"), path_(std::move(path)), backend_(std::move(backend)) {}

 private:
  void run() override { handle_ = std::make_shared<const Gemma2TextEncoder>(Gemma2TextEncoder::load(path_, backend_)); }
  void OnOK() override { deferred_.Resolve(encoder_to_js(Env(), handle_)); }
  std::string path_, backend_;
  Handle handle_;
};

class EncodeWorker final : public PromiseWorker {
 public:
  EncodeWorker(Napi::Env env, Handle model, std::vector<int32_t> ids, std::vector<int32_t> mask, int64_t batch,
               int64_t tokens)
      : PromiseWorker(env, "sana:text_encoder"),
        model_(std::move(model)),
        ids_(std::move(ids)),
        mask_(std::move(mask)),
        batch_(batch),
        tokens_(tokens) {}

 private:
  void run() override { hidden_ = model_->encode(ids_.data(), mask_.data(), batch_, tokens_); }
  void OnOK() override {
    Napi::Env env = Env();
    const size_t n = static_cast<size_t>(hidden_.numel());
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    std::copy_n(hidden_.data(), n, out.Data());
    deferred_.Resolve(out);
  }
  Handle model_;
  std::vector<int32_t> ids_, mask_;
  int64_t batch_, tokens_;
  Tensor hidden_;
};

Handle encoder_of(const Napi::CallbackInfo& info) {
  const Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&kTextEncoderTag))
    type_error(info.Env(), "encode must be called on a TextEncoder from loadTextEncoder()");
  return *self.As<Napi::Object>().Get("_handle").As<Napi::External<Handle>>().Data();
}

Napi::Value encode_method(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle model = encoder_of(info);
  if (info.Length() < 3) type_error(env, "encode(inputIds, attentionMask, [batch, tokens]) takes three arguments");
  std::vector<int32_t> shape = int32_values(env, info[2], "encode: shape");
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0)
    type_error(env, "encode: shape must be [batch, tokens] with both positive");
  const int64_t n = static_cast<int64_t>(shape[0]) * shape[1];
  std::vector<int32_t> ids = int32_values(env, info[0], "encode: inputIds");
  std::vector<int32_t> mask = int32_values(env, info[1], "encode: attentionMask");
  check(static_cast<int64_t>(ids.size()) == n, "encode: inputIds has " + std::to_string(ids.size()) +
                                                   " values, shape [" + std::to_string(shape[0]) + ", " +
                                                   std::to_string(shape[1]) + "] needs " + std::to_string(n));
  check(static_cast<int64_t>(mask.size()) == n, "encode: attentionMask has " + std::to_string(mask.size()) +
                                                    " values, shape needs " + std::to_string(n));
  // N-API owns queued workers: AsyncWorker deletes itself after OnOK/OnError.
  auto* worker =
      std::make_unique<EncodeWorker>(env, std::move(model), std::move(ids), std::move(mask), shape[0], shape[1])
          .release();
  const Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Object encoder_to_js(Napi::Env env, Handle handle) {
  Napi::Object o = Napi::Object::New(env);
  o.TypeTag(&kTextEncoderTag);
  o.Set("config", config_to_js(env, handle->config()));
  o.Set("backend", handle->backend_name());
  o.Set("weightsDtype", std::string(dtype_name(handle->weights_dtype())));
  o.Set("weightBytes", static_cast<double>(handle->weight_bytes()));
  o.Set("_handle", Napi::External<Handle>::New(env, std::make_unique<Handle>(std::move(handle)).release(),
                                               [](Napi::Env, Handle* p) { std::unique_ptr<Handle>{p}; }));
  o.Set("encode", Napi::Function::New(
                      env,
                      [](const Napi::CallbackInfo& info) -> Napi::Value {
                        return promise_guard(info.Env(), [&] { return encode_method(info); });
                      },
                      "encode"));
  return o;
}

Napi::Value load_text_encoder(const Napi::CallbackInfo& info) {
  const std::string path = string_arg(info, 0, "loadTextEncoder");
  std::string backend = "cpu";
  if (has_arg(info, 1)) {
    if (!info[1].IsObject()) type_error(info.Env(), "loadTextEncoder: argument 2 must be an options object");
    const Napi::Value b = info[1].As<Napi::Object>().Get("backend");
    if (!b.IsUndefined()) {
      if (!b.IsString()) type_error(info.Env(), "loadTextEncoder: options.backend must be a string");
      backend = b.As<Napi::String>().Utf8Value();
    }
  }
  auto* worker = std::make_unique<LoadWorker>(info.Env(), path, backend).release();
  const Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

void register_text_encoder(Napi::Env env, Napi::Object exports) {
  exports.Set("loadTextEncoder", Napi::Function::New(
                                     env,
                                     [](const Napi::CallbackInfo& info) -> Napi::Value {
                                       return promise_guard(info.Env(), [&] { return load_text_encoder(info); });
                                     },
                                     "loadTextEncoder"));
}

}  // namespace sana::node
