#pragma once
// A diffusers pipeline folder: model_index.json naming components, each a sub-folder
// with config.json and safetensors weights (e.g. Efficient-Large-Model/Sana_*_diffusers).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sana/safetensors.h"

namespace sana {

using Json = nlohmann::json;

// JSON as Python's json module writes it: bare NaN / Infinity / -Infinity become doubles.
// Errors name `origin` and the line and column.
Json parse_json(std::string_view text, const std::string& origin);
Json read_json_file(const std::filesystem::path& path);

// What a component folder holds, decided from its class name in model_index.json.
enum class ComponentKind { Model, Scheduler, Tokenizer, Processor };

struct Component {
  std::string name;        // "transformer", "vae", ...
  std::string library;     // "diffusers", "transformers"
  std::string class_name;  // "SanaTransformer2DModel", ...
  std::filesystem::path dir;
  ComponentKind kind = ComponentKind::Model;

  bool has_weights() const { return kind == ComponentKind::Model; }
  // config.json, scheduler_config.json, tokenizer_config.json or preprocessor_config.json.
  std::filesystem::path config_path() const;
};

std::string_view component_kind_name(ComponentKind kind);  // "model", "scheduler", ...

class ModelFolder {
 public:
  static ModelFolder open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }
  const std::string& pipeline_class() const { return pipeline_class_; }
  const std::vector<Component>& components() const { return components_; }
  const Component& component(const std::string& name) const;
  bool has_component(const std::string& name) const;

  // The component's config file (see Component::config_path), parsed.
  Json config(const std::string& name) const;
  // Opens (memory-maps) the component's weights and checks their dtypes and the
  // shapes the config implies; throws on the first mismatch.
  Checkpoint weights(const std::string& name) const;
  // The one float dtype (F32, F16 or BF16) all of a checkpoint's tensors share; throws otherwise.
  static DType weights_dtype(const Checkpoint& weights);

 private:
  std::filesystem::path root_;
  std::string pipeline_class_;
  std::vector<Component> components_;
};

}  // namespace sana
