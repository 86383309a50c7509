// The DC-AE autoencoder as JS sees it: loadVae(folder) resolves to an object whose methods
// decode / encode on the libuv thread pool and resolve to typed arrays with their shapes.
//
// Inputs are copied on the JS thread before the work is queued, so callers may reuse their
// arrays at once; the model lives as long as any of its methods (each holds a reference)
// or until dispose(), after which work already queued still finishes.
#include <napi.h>

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/bindings.h"
#include "node/napi_util.h"
#include "sana/dc_ae.h"
#include "sana/error.h"

namespace sana::node {

namespace {

// Runs `work` off the JS thread; `finish` turns its result into the promise's value.
template <typename Result>
class PromiseWorker final : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Finish = std::function<Napi::Value(Napi::Env, Result&)>;

  static Napi::Promise start(Napi::Env env, Work work, Finish finish) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(finish));  // owned by libuv, freed after OnOK/OnError
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      result_ = work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("sana: unknown native exception");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  PromiseWorker(Napi::Env env, Work work, Finish finish)
      : Napi::AsyncWorker(env, "sana:vae"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        finish_(std::move(finish)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Finish finish_;
  Result result_{};
};

struct Holder {
  std::shared_ptr<DcAutoencoder> model;  // null after dispose()

  std::shared_ptr<DcAutoencoder> get(Napi::Env env) const {
    if (!model) throw Napi::Error::New(env, "VaeModel: used after dispose()");
    return model;
  }
};

Napi::Array shape_to_js(Napi::Env env, const Shape& shape) {
  Napi::Array out = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) out.Set(static_cast<uint32_t>(i), static_cast<double>(shape[i]));
  return out;
}

Napi::Object float_tensor_to_js(Napi::Env env, const Tensor& t) {
  Napi::Float32Array data = Napi::Float32Array::New(env, static_cast<size_t>(t.numel()));
  std::copy(t.data(), t.data() + t.numel(), data.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", data);
  out.Set("shape", shape_to_js(env, t.shape()));
  return out;
}

// A [B, C, H, W] shape array whose element count matches `count` and whose channels are
// `channels`. Errors name the method and the argument.
Shape nchw_shape_arg(const Napi::CallbackInfo& info, size_t index, const std::string& fn, size_t count,
                     int64_t channels, const char* what) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsArray())
    throw Napi::TypeError::New(env, fn + ": argument " + std::to_string(index + 1) + " must be the shape [B, C, H, W]");
  Napi::Array arr = info[index].As<Napi::Array>();
  if (arr.Length() != 4) throw Napi::TypeError::New(env, fn + ": the shape must have 4 entries [B, C, H, W]");
  Shape shape;
  for (uint32_t i = 0; i < 4; ++i) {
    Napi::Value v = arr.Get(i);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(d >= 1.0 && d <= 1e9 && std::floor(d) == d))
      throw Napi::TypeError::New(env, fn + ": shape entries must be positive integers");
    shape.push_back(static_cast<int64_t>(d));
  }
  if (shape[1] != channels)
    throw Napi::Error::New(env, fn + ": " + what + " has " + std::to_string(shape[1]) + " channels, this VAE expects " +
                                    std::to_string(channels));
  if (static_cast<size_t>(numel(shape)) != count)
    throw Napi::Error::New(env, fn + ": shape " + shape_str(shape) + " holds " + std::to_string(numel(shape)) +
                                    " values but the array has " + std::to_string(count));
  return shape;
}

std::vector<float> float_array_arg(const Napi::CallbackInfo& info, size_t index, const std::string& fn) {
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), fn + ": argument " + std::to_string(index + 1) + " must be a Float32Array");
  Napi::Float32Array arr = info[index].As<Napi::Float32Array>();
  return std::vector<float>(arr.Data(), arr.Data() + arr.ElementLength());
}

Napi::Object options_arg(const Napi::CallbackInfo& info, size_t index, const std::string& fn) {
  if (!has_arg(info, index)) return Napi::Object::New(info.Env());
  if (!info[index].IsObject())
    throw Napi::TypeError::New(info.Env(), fn + ": argument " + std::to_string(index + 1) + " must be an options object");
  return info[index].As<Napi::Object>();
}

bool bool_option(Napi::Object options, const char* key, bool fallback, const std::string& fn) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw Napi::TypeError::New(options.Env(), fn + ": option " + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

int64_t int_option(Napi::Object options, const char* key, int64_t fallback, int64_t min, const std::string& fn) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!(d >= static_cast<double>(min) && d <= 1e6 && std::floor(d) == d))
    throw Napi::TypeError::New(options.Env(),
                               fn + ": option " + key + " must be an integer >= " + std::to_string(min));
  return static_cast<int64_t>(d);
}

DcAeDecodeOptions decode_options(Napi::Object o, const std::string& fn) {
  DcAeDecodeOptions d;
  d.scaled = bool_option(o, "scaled", false, fn);
  Napi::Value tiled = o.Get("tiled");
  if (!tiled.IsUndefined()) {
    if (!tiled.IsBoolean()) throw Napi::TypeError::New(o.Env(), fn + ": option tiled must be a boolean");
    d.tiling = tiled.As<Napi::Boolean>().Value() ? DcAeDecodeOptions::Tiling::On : DcAeDecodeOptions::Tiling::Off;
  }
  d.tiles.tile_latent = int_option(o, "tileLatent", d.tiles.tile_latent, 1, fn);
  return d;
}

// What decode / decodeToImage / decodeToRgb8 share: argument checks on the JS thread, the
// NHWC decode on the pool.
struct DecodeRequest {
  std::shared_ptr<DcAutoencoder> model;
  std::vector<float> latent;
  Shape shape;
  DcAeDecodeOptions options;

  static DecodeRequest parse(const Napi::CallbackInfo& info, const Holder& holder, const std::string& fn) {
    DecodeRequest r;
    r.model = holder.get(info.Env());
    r.latent = float_array_arg(info, 0, fn);
    r.shape = nchw_shape_arg(info, 1, fn, r.latent.size(), r.model->config().latent_channels, "the latent");
    r.options = decode_options(options_arg(info, 2, fn), fn);
    return r;
  }

  Tensor run() const { return model->decode_image(latent.data(), shape[0], shape[2], shape[3], options); }
};

// (B, H, W, C) -> (B, C, H, W).
Tensor to_nchw(const Tensor& nhwc) {
  const int64_t b = nhwc.dim(0), h = nhwc.dim(1), w = nhwc.dim(2), c = nhwc.dim(3);
  Tensor out({b, c, h, w});
  for (int64_t i = 0; i < b; ++i)
    for (int64_t p = 0; p < h * w; ++p)
      for (int64_t ch = 0; ch < c; ++ch) out.data()[(i * c + ch) * h * w + p] = nhwc.data()[(i * h * w + p) * c + ch];
  return out;
}

// A result tensor and, when asked for, the intermediates the golden cases name.
struct Captured {
  Tensor tensor;
  std::optional<DcAeCaptures> captures;
};

Napi::Value captured_to_js(Napi::Env env, Captured& r) {
  Napi::Object out = float_tensor_to_js(env, r.tensor);
  if (r.captures) {
    Napi::Object intermediates = Napi::Object::New(env);
    for (const auto& [name, t] : r.captures->tensors) intermediates.Set(name, float_tensor_to_js(env, t));
    out.Set("intermediates", intermediates);
  }
  return out;
}

Napi::Object info_object(Napi::Env env, const DcAutoencoder& m) {
  const DcAeConfig& c = m.config();
  Napi::Object out = Napi::Object::New(env);
  out.Set("backend", m.backend_name());
  out.Set("inChannels", static_cast<double>(c.in_channels));
  out.Set("latentChannels", static_cast<double>(c.latent_channels));
  out.Set("spatialCompression", static_cast<double>(c.spatial_compression()));
  out.Set("scalingFactor", c.scaling_factor);
  out.Set("weightBytes", static_cast<double>(m.weight_bytes()));
  out.Set("hasEncoder", m.has_encoder());
  out.Set("hasDecoder", m.has_decoder());
  return out;
}

Napi::Object model_object(Napi::Env env, std::shared_ptr<DcAutoencoder> model) {
  auto holder = std::make_shared<Holder>();
  holder->model = std::move(model);
  Napi::Object out = Napi::Object::New(env);

  export_function(env, out, "info", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    return info_object(info.Env(), *holder->get(info.Env()));
  });

  export_function(env, out, "decode", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string fn = "VaeModel.decode";
    auto req = std::make_shared<DecodeRequest>(DecodeRequest::parse(info, *holder, fn));
    const bool capture = bool_option(options_arg(info, 2, fn), "capture", false, fn);
    if (capture && req->options.tiling == DcAeDecodeOptions::Tiling::On)
      throw Napi::Error::New(info.Env(), fn + ": capture needs an untiled decode (tiled: false)");
    return PromiseWorker<Captured>::start(
        info.Env(),
        [req, capture] {
          Captured r;
          if (capture) {
            r.captures.emplace();
            r.tensor = req->model->decode(req->latent.data(), req->shape[0], req->shape[2], req->shape[3],
                                          req->options.scaled, &*r.captures);
          } else {
            r.tensor = to_nchw(req->run());
          }
          return r;
        },
        captured_to_js);
  });

  export_function(env, out, "decodeToImage", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    auto req = std::make_shared<DecodeRequest>(DecodeRequest::parse(info, *holder, "VaeModel.decodeToImage"));
    return PromiseWorker<Tensor>::start(
        info.Env(), [req] { return image_to_unit(req->run()); },
        [](Napi::Env env, Tensor& t) -> Napi::Value { return float_tensor_to_js(env, t); });
  });

  export_function(env, out, "decodeToRgb8", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    auto req = std::make_shared<DecodeRequest>(DecodeRequest::parse(info, *holder, "VaeModel.decodeToRgb8"));
    using Result = std::pair<Shape, std::vector<uint8_t>>;
    return PromiseWorker<Result>::start(
        info.Env(),
        [req] {
          const Tensor image = req->run();
          return Result(image.shape(), image_to_rgb8(image));
        },
        [](Napi::Env env, Result& r) -> Napi::Value {
          Napi::Uint8Array data = Napi::Uint8Array::New(env, r.second.size());
          std::copy(r.second.begin(), r.second.end(), data.Data());
          Napi::Object o = Napi::Object::New(env);
          o.Set("data", data);
          o.Set("shape", shape_to_js(env, r.first));
          return o;
        });
  });

  export_function(env, out, "encode", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string fn = "VaeModel.encode";
    auto model = holder->get(info.Env());
    auto image = std::make_shared<std::vector<float>>(float_array_arg(info, 0, fn));
    const Shape shape = nchw_shape_arg(info, 1, fn, image->size(), model->config().in_channels, "the image");
    Napi::Object o = options_arg(info, 2, fn);
    const bool scaled = bool_option(o, "scaled", false, fn);
    const bool capture = bool_option(o, "capture", false, fn);
    return PromiseWorker<Captured>::start(
        info.Env(),
        [model, image, shape, scaled, capture] {
          Captured r;
          if (capture) r.captures.emplace();
          r.tensor = model->encode(image->data(), shape[0], shape[2], shape[3], scaled,
                                   capture ? &*r.captures : nullptr);
          return r;
        },
        captured_to_js);
  });

  export_function(env, out, "preview", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string fn = "VaeModel.preview";
    auto model = holder->get(info.Env());
    auto latent = std::make_shared<std::vector<float>>(float_array_arg(info, 0, fn));
    const Shape shape = nchw_shape_arg(info, 1, fn, latent->size(), model->config().latent_channels, "the latent");
    const bool scaled = bool_option(options_arg(info, 2, fn), "scaled", false, fn);
    return PromiseWorker<Tensor>::start(
        info.Env(), [model, latent, shape, scaled] { return model->preview(latent->data(), shape[0], shape[2], shape[3], scaled); },
        [](Napi::Env env, Tensor& t) -> Napi::Value { return float_tensor_to_js(env, t); });
  });

  export_function(env, out, "previewStats", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    auto model = holder->get(info.Env());
    return PromiseWorker<DcAePreviewStats>::start(
        info.Env(), [model] { return model->preview_stats(); },
        [](Napi::Env env, DcAePreviewStats& s) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("fitPsnr", s.fit_psnr);
          o.Set("fitFlatPsnr", s.fit_flat_psnr);
          o.Set("testPsnr", s.test_psnr);
          o.Set("testFlatPsnr", s.test_flat_psnr);
          return o;
        });
  });

  export_function(env, out, "decodeWorkspaceBytes", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    auto model = holder->get(info.Env());
    const int64_t b = static_cast<int64_t>(number_arg(info, 0, "VaeModel.decodeWorkspaceBytes"));
    const int64_t h = static_cast<int64_t>(number_arg(info, 1, "VaeModel.decodeWorkspaceBytes"));
    const int64_t w = static_cast<int64_t>(number_arg(info, 2, "VaeModel.decodeWorkspaceBytes"));
    return Napi::Number::New(info.Env(), static_cast<double>(model->decode_workspace_bytes(b, h, w)));
  });

  export_function(env, out, "dispose", [holder](const Napi::CallbackInfo& info) -> Napi::Value {
    holder->model.reset();
    return info.Env().Undefined();
  });
  return out;
}

}  // namespace

void register_vae(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "loadVae", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string fn = "loadVae";
    const std::string path = string_arg(info, 0, "loadVae");
    Napi::Object o = options_arg(info, 1, fn);
    DcAeLoadOptions options;
    options.encoder = bool_option(o, "encoder", true, fn);
    options.decoder = bool_option(o, "decoder", true, fn);
    Napi::Value backend = o.Get("backend");
    if (!backend.IsUndefined()) {
      if (!backend.IsString()) throw Napi::TypeError::New(info.Env(), fn + ": option backend must be a string");
      options.backend = backend.As<Napi::String>().Utf8Value();
    }
    Napi::Value cap = o.Get("vitScratchBytes");
    if (!cap.IsUndefined()) {
      const double bytes = cap.IsNumber() ? cap.As<Napi::Number>().DoubleValue() : -1.0;
      if (!(bytes >= 0.0 && bytes <= 9.0e15 && std::floor(bytes) == bytes))
        throw Napi::TypeError::New(info.Env(), fn + ": option vitScratchBytes must be a non-negative integer");
      options.vit_scratch_bytes = static_cast<size_t>(bytes);
    }
    return PromiseWorker<std::shared_ptr<DcAutoencoder>>::start(
        info.Env(), [path, options] { return std::make_shared<DcAutoencoder>(DcAutoencoder::load(path, options)); },
        [](Napi::Env env, std::shared_ptr<DcAutoencoder>& m) -> Napi::Value { return model_object(env, m); });
  });
}

}  // namespace sana::node
