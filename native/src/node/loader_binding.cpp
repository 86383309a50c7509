// The model-folder loader as JS sees it: describe a folder, validate and summarise a
// component's weights, read config files, and read whole safetensors files (the golden
// runner's case files) into typed arrays.
#include <napi.h>

#include <cstring>

#include "node/bindings.h"
#include "node/json_napi_util.h"
#include "node/napi_util.h"
#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana::node {

namespace {

Napi::Array shape_to_js(Napi::Env env, const Shape& shape) {
  Napi::Array out = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) out.Set(static_cast<uint32_t>(i), static_cast<double>(shape[i]));
  return out;
}

template <typename Source, typename Target>
void copy_widened(const std::byte* src, Target* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Source value;
    std::memcpy(&value, src + i * sizeof(Source), sizeof(Source));  // mapped data may be unaligned
    dst[i] = static_cast<Target>(value);
  }
}

// The JS array type per dtype: floats widen to Float32Array (F64 keeps Float64Array),
// I64 stays exact in BigInt64Array, smaller integers fit Int32Array, U8/BOOL Uint8Array.
Napi::Value tensor_data(Napi::Env env, const TensorView& view) {
  const auto n = static_cast<size_t>(view.numel());
  switch (view.dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: {
      Napi::Float32Array out = Napi::Float32Array::New(env, n);
      convert_to_f32(view.dtype, view.data, out.Data(), n);
      return out;
    }
    case DType::F64: {
      Napi::Float64Array out = Napi::Float64Array::New(env, n);
      if (n > 0) std::memcpy(out.Data(), view.data, n * sizeof(double));
      return out;
    }
    case DType::I64: {
      Napi::BigInt64Array out = Napi::BigInt64Array::New(env, n);
      if (n > 0) std::memcpy(out.Data(), view.data, n * sizeof(int64_t));
      return out;
    }
    case DType::I32: {
      Napi::Int32Array out = Napi::Int32Array::New(env, n);
      if (n > 0) std::memcpy(out.Data(), view.data, n * sizeof(int32_t));
      return out;
    }
    case DType::I16: {
      Napi::Int32Array out = Napi::Int32Array::New(env, n);
      copy_widened<int16_t>(view.data, out.Data(), n);
      return out;
    }
    case DType::I8: {
      Napi::Int32Array out = Napi::Int32Array::New(env, n);
      copy_widened<int8_t>(view.data, out.Data(), n);
      return out;
    }
    case DType::U8:
    case DType::BOOL: {
      Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
      if (n > 0) std::memcpy(out.Data(), view.data, n);
      return out;
    }
  }
  throw Napi::Error::New(env, "unknown dtype");
}

Napi::Object tensor_info(Napi::Env env, const std::string& name, const TensorView& view) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", name);
  out.Set("dtype", std::string(dtype_name(view.dtype)));
  out.Set("shape", shape_to_js(env, view.shape));
  return out;
}

Napi::Value open_model_folder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelFolder folder = ModelFolder::open(string_arg(info, 0, "openModelFolder"));
  Napi::Object out = Napi::Object::New(env);
  out.Set("root", folder.root().string());
  out.Set("pipelineClass", folder.pipeline_class());
  Napi::Array components = Napi::Array::New(env, folder.components().size());
  uint32_t i = 0;
  for (const Component& c : folder.components()) {
    Napi::Object item = Napi::Object::New(env);
    item.Set("name", c.name);
    item.Set("library", c.library);
    item.Set("className", c.class_name);
    item.Set("kind", std::string(component_kind_name(c.kind)));
    item.Set("hasWeights", c.has_weights());
    item.Set("configPath", c.config_path().string());
    components.Set(i++, item);
  }
  out.Set("components", components);
  return out;
}

Napi::Value inspect_weights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelFolder folder = ModelFolder::open(string_arg(info, 0, "inspectWeights"));
  const std::string name = string_arg(info, 1, "inspectWeights");
  const Checkpoint weights = folder.weights(name);
  Napi::Object out = Napi::Object::New(env);
  out.Set("component", name);
  out.Set("className", folder.component(name).class_name);
  out.Set("dtype", std::string(dtype_name(ModelFolder::weights_dtype(weights))));
  out.Set("tensorCount", static_cast<double>(weights.size()));
  out.Set("totalBytes", static_cast<double>(weights.total_bytes()));
  const auto files = weights.files();
  Napi::Array files_js = Napi::Array::New(env, files.size());
  for (size_t f = 0; f < files.size(); ++f) files_js.Set(static_cast<uint32_t>(f), files[f].string());
  out.Set("files", files_js);
  const auto names = weights.names();
  Napi::Array tensors = Napi::Array::New(env, names.size());
  for (size_t t = 0; t < names.size(); ++t)
    tensors.Set(static_cast<uint32_t>(t), tensor_info(env, names[t], weights.view(names[t])));
  out.Set("tensors", tensors);
  return out;
}

Napi::Value read_config(const Napi::CallbackInfo& info) {
  const ModelFolder folder = ModelFolder::open(string_arg(info, 0, "readConfig"));
  return json_to_js(info.Env(), folder.config(string_arg(info, 1, "readConfig")));
}

Napi::Value read_json(const Napi::CallbackInfo& info) {
  return json_to_js(info.Env(), read_json_file(string_arg(info, 0, "readJson")));
}

// Opens a single file or a *.safetensors.index.json; the same validation either way.
Checkpoint open_tensor_file(const Napi::CallbackInfo& info, const char* fn_name) {
  return Checkpoint::open_file(string_arg(info, 0, fn_name));
}

Napi::Value read_safetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Checkpoint file = open_tensor_file(info, "readSafetensors");
  Napi::Object out = Napi::Object::New(env);
  for (const std::string& name : file.names()) {
    const TensorView& view = file.view(name);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("dtype", std::string(dtype_name(view.dtype)));
    entry.Set("shape", shape_to_js(env, view.shape));
    entry.Set("data", tensor_data(env, view));
    out.Set(name, entry);
  }
  return out;
}

Napi::Value safetensors_header(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = string_arg(info, 0, "safetensorsHeader");
  const auto file = SafetensorsFile::open(path);
  Napi::Object out = Napi::Object::New(env);
  Napi::Object metadata = Napi::Object::New(env);
  for (const auto& [key, value] : file->metadata()) metadata.Set(key, value);
  out.Set("metadata", metadata);
  Napi::Array tensors = Napi::Array::New(env, file->tensors().size());
  uint32_t i = 0;
  for (const auto& [name, view] : file->tensors()) tensors.Set(i++, tensor_info(env, name, view));
  out.Set("tensors", tensors);
  return out;
}

}  // namespace

void register_loader(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "openModelFolder", open_model_folder);
  export_function(env, exports, "inspectWeights", inspect_weights);
  export_function(env, exports, "readConfig", read_config);
  export_function(env, exports, "readJson", read_json);
  export_function(env, exports, "readSafetensors", read_safetensors);
  export_function(env, exports, "safetensorsHeader", safetensors_header);
}

}  // namespace sana::node
