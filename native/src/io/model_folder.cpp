// A diffusers pipeline folder. model_index.json names each component and the class that
// reads it; the class decides which config file the component's folder must hold.
#include "sana/model_folder.h"

#include <algorithm>

#include "io/component_schema.h"
#include "sana/error.h"

namespace sana {

namespace fs = std::filesystem;

namespace {

bool contains_text(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

ComponentKind kind_of(const std::string& class_name) {
  if (class_name.ends_with("Scheduler")) return ComponentKind::Scheduler;
  if (contains_text(class_name, "Tokenizer")) return ComponentKind::Tokenizer;
  if (contains_text(class_name, "Processor") || contains_text(class_name, "FeatureExtractor"))
    return ComponentKind::Processor;
  return ComponentKind::Model;
}

}  // namespace

std::string_view component_kind_name(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::Model:
      return "model";
    case ComponentKind::Scheduler:
      return "scheduler";
    case ComponentKind::Tokenizer:
      return "tokenizer";
    case ComponentKind::Processor:
      return "processor";
  }
  return "model";
}

fs::path Component::config_path() const {
  switch (kind) {
    case ComponentKind::Scheduler:
      return dir / "scheduler_config.json";
    case ComponentKind::Tokenizer:
      return dir / "tokenizer_config.json";
    case ComponentKind::Processor:
      return dir / "preprocessor_config.json";
    case ComponentKind::Model:
      break;
  }
  return dir / "config.json";
}

ModelFolder ModelFolder::open(const fs::path& root) {
  if (!fs::is_directory(root)) fail("model folder " + root.string() + " does not exist or is not a folder");
  const fs::path index_path = root / "model_index.json";
  if (!fs::is_regular_file(index_path))
    fail(index_path.string() + " is missing: " + root.string() + " is not a diffusers pipeline folder");
  const Json index = read_json_file(index_path);
  const std::string where = index_path.string();
  check(index.is_object(), where + ": must be a JSON object");
  check(index.contains("_class_name") && index["_class_name"].is_string(),
        where + ": \"_class_name\" (the pipeline class) must be a string");

  ModelFolder folder;
  folder.root_ = root;
  folder.pipeline_class_ = index["_class_name"].get<std::string>();
  for (const auto& [name, value] : index.items()) {
    if (name.starts_with("_")) continue;
    // [null, null] marks an optional component the pipeline was saved without.
    if (value.is_array() && value.size() == 2 && value[0].is_null() && value[1].is_null()) continue;
    check(value.is_array() && value.size() == 2 && value[0].is_string() && value[1].is_string(),
          where + ": component \"" + name + "\" must be [library, class], not " + value.dump());
    Component component;
    component.name = name;
    component.library = value[0].get<std::string>();
    component.class_name = value[1].get<std::string>();
    component.dir = root / name;
    component.kind = kind_of(component.class_name);
    if (!fs::is_directory(component.dir))
      fail(where + " lists component \"" + name + "\" (" + component.class_name + "), but its folder " +
           component.dir.string() + " is missing");
    const fs::path config = component.config_path();
    if (!fs::is_regular_file(config))
      fail("component \"" + name + "\" (" + component.class_name + "): " + config.string() + " is missing");
    folder.components_.push_back(std::move(component));
  }
  check(!folder.components_.empty(), where + ": lists no components");
  return folder;
}

bool ModelFolder::has_component(const std::string& name) const {
  return std::any_of(components_.begin(), components_.end(), [&](const Component& c) { return c.name == name; });
}

const Component& ModelFolder::component(const std::string& name) const {
  for (const Component& c : components_)
    if (c.name == name) return c;
  std::string known;
  for (const Component& c : components_) known += (known.empty() ? "" : ", ") + c.name;
  fail(root_.string() + ": no component \"" + name + "\" (the folder has: " + known + ")");
}

Json ModelFolder::config(const std::string& name) const {
  const Json config = read_json_file(component(name).config_path());
  check(config.is_object(), component(name).config_path().string() + ": must be a JSON object");
  return config;
}

Checkpoint ModelFolder::weights(const std::string& name) const {
  const Component& c = component(name);
  check(c.has_weights(), root_.string() + ": component \"" + name + "\" (" + c.class_name + ") is a " +
                             std::string(component_kind_name(c.kind)) + " and has no weights");
  const Json cfg = config(name);
  Checkpoint checkpoint = Checkpoint::open_dir(c.dir);
  validate_component_weights(c, cfg, checkpoint);
  return checkpoint;
}

DType ModelFolder::weights_dtype(const Checkpoint& weights) {
  const std::string where = weights.origin().string();
  const std::vector<std::string> names = weights.names();
  check(!names.empty(), where + ": the checkpoint holds no tensors");
  const std::string& first = names.front();
  const DType dtype = weights.view(first).dtype;
  for (const std::string& name : names) {
    const DType d = weights.view(name).dtype;
    if (d != DType::F32 && d != DType::F16 && d != DType::BF16)
      fail(where + ": tensor \"" + name + "\" has dtype " + std::string(dtype_name(d)) +
           "; model weights must be F32, F16 or BF16");
    if (d != dtype)
      fail(where + ": mixed weight dtypes: tensor \"" + name + "\" is " + std::string(dtype_name(d)) + " but \"" +
           first + "\" is " + std::string(dtype_name(dtype)) + "; a component's weights must share one dtype");
  }
  return dtype;
}

}  // namespace sana
