#include "io/schema_check.h"

#include <charconv>
#include <set>

#include "sana/error.h"

namespace sana::schema {

Checker::Checker(const Component& component, const Json& config, const Checkpoint& weights)
    : component_(component), config_(config), weights_(weights) {}

void Checker::fail_config(const std::string& message) const {
  fail(component_.config_path().string() + " (" + component_.class_name + "): " + message);
}

void Checker::fail_weights(const std::string& message) const {
  fail("weights of component \"" + component_.name + "\" (" + component_.class_name + ", " +
       weights_.origin().string() + "): " + message);
}

const Json& Checker::config_value(const std::string& key) const {
  if (!config_.is_object() || !config_.contains(key)) fail_config("missing \"" + key + "\"");
  return config_.at(key);
}

bool Checker::config_is_set(const std::string& key) const {
  return config_.is_object() && config_.contains(key) && !config_.at(key).is_null();
}

int64_t Checker::config_int(const std::string& key) const {
  const Json& v = config_value(key);
  if (!v.is_number_integer()) fail_config("\"" + key + "\" must be an integer, not " + v.dump());
  return v.get<int64_t>();
}

int64_t Checker::config_int(const std::string& key, int64_t fallback) const {
  return config_is_set(key) ? config_int(key) : fallback;
}

double Checker::config_number(const std::string& key, double fallback) const {
  if (!config_is_set(key)) return fallback;
  const Json& v = config_.at(key);
  if (!v.is_number()) fail_config("\"" + key + "\" must be a number, not " + v.dump());
  return v.get<double>();
}

bool Checker::config_bool(const std::string& key, bool fallback) const {
  if (!config_is_set(key)) return fallback;
  const Json& v = config_.at(key);
  if (!v.is_boolean()) fail_config("\"" + key + "\" must be true or false, not " + v.dump());
  return v.get<bool>();
}

std::vector<int64_t> Checker::config_ints(const std::string& key) const {
  const Json& v = config_value(key);
  if (!v.is_array()) fail_config("\"" + key + "\" must be an array of integers, not " + v.dump());
  std::vector<int64_t> out;
  for (const Json& item : v) {
    if (!item.is_number_integer()) fail_config("\"" + key + "\" must be an array of integers, not " + v.dump());
    out.push_back(item.get<int64_t>());
  }
  return out;
}

void Checker::expect_shape(const std::string& tensor, const Shape& expected, const std::string& formula) const {
  if (!weights_.contains(tensor))
    fail_weights("tensor \"" + tensor + "\" is missing; config.json implies shape " + shape_str(expected) + " = " +
                 formula);
  const Shape& actual = weights_.view(tensor).shape;
  if (actual != expected)
    fail_weights("tensor \"" + tensor + "\" has shape " + shape_str(actual) + ", but config.json implies " +
                 shape_str(expected) + " = " + formula);
}

std::vector<int64_t> Checker::layer_indices(const std::string& prefix) const {
  std::set<int64_t> found;
  const std::string head = prefix + ".";
  for (const std::string& name : weights_.names()) {
    if (name.compare(0, head.size(), head) != 0) continue;
    const char* first = name.data() + head.size();
    const char* last = name.data() + name.size();
    int64_t index = -1;
    const auto [end, ec] = std::from_chars(first, last, index);
    if (ec == std::errc() && end != first && end < last && *end == '.') found.insert(index);
  }
  return {found.begin(), found.end()};
}

void Checker::expect_layer_count(const std::string& prefix, int64_t expected, const std::string& config_key) const {
  const std::vector<int64_t> indices = layer_indices(prefix);
  const auto count = static_cast<int64_t>(indices.size());
  bool contiguous = true;
  for (int64_t i = 0; i < count; ++i) contiguous = contiguous && indices[static_cast<size_t>(i)] == i;
  if (count != expected || !contiguous) {
    std::string listed = count == 0 ? "none" : "indices " + std::to_string(indices.front()) + ".." +
                                                   std::to_string(indices.back());
    fail_weights("has " + std::to_string(count) + " " + prefix + ".* blocks (" + listed + "), but config.json " +
                 config_key + " = " + std::to_string(expected));
  }
}

}  // namespace sana::schema
