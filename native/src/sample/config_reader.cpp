#include "sample/config_reader.h"

#include <cmath>
#include <limits>

#include "sana/error.h"

namespace sana::sample {

ConfigReader::ConfigReader(const nlohmann::json& config, std::string origin)
    : config_(config), origin_(std::move(origin)) {
  check(config_.is_object(), origin_ + ": expected a JSON object, got " + std::string(config_.type_name()));
}

bool ConfigReader::has(const std::string& key) const {
  auto it = config_.find(key);
  return it != config_.end() && !it->is_null();
}

void ConfigReader::reject(const std::string& key, const std::string& message) const {
  fail(origin_ + ": \"" + key + "\" " + message);
}

double ConfigReader::number(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    // Python's json writes non-finite floats bare; configs copied elsewhere carry them as text.
    const std::string text = value.get<std::string>();
    if (text == "-Infinity" || text == "-inf") return -std::numeric_limits<double>::infinity();
    if (text == "Infinity" || text == "inf") return std::numeric_limits<double>::infinity();
    if (text == "NaN" || text == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  reject(key, "must be a number, got " + value.dump());
}

int ConfigReader::integer(const std::string& key, int fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (value.is_number_integer()) return value.get<int>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::floor(d) == d && std::abs(d) < 1e9) return static_cast<int>(d);
  }
  reject(key, "must be an integer, got " + value.dump());
}

bool ConfigReader::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (value.is_boolean()) return value.get<bool>();
  reject(key, "must be true or false, got " + value.dump());
}

std::string ConfigReader::string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (value.is_string()) return value.get<std::string>();
  reject(key, "must be a string, got " + value.dump());
}

void ConfigReader::require_off(const std::string& key, std::string_view why) const {
  if (boolean(key, false)) reject(key, "= true is not supported: " + std::string(why));
}

void ConfigReader::require_null(const std::string& key, std::string_view why) const {
  if (has(key)) reject(key, "= " + config_.at(key).dump() + " is not supported: " + std::string(why));
}

std::string ConfigReader::one_of(const std::string& key, const std::string& fallback,
                                 std::initializer_list<std::string_view> allowed) const {
  const std::string value = string(key, fallback);
  std::string list;
  for (std::string_view a : allowed) {
    if (a == value) return value;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  reject(key, "= \"" + value + "\" is not supported (supported: " + list + ")");
}

}  // namespace sana::sample
