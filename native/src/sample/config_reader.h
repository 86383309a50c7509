#pragma once
// Typed access to one diffusers config object. Every error names the config's origin and
// the key, and says what was expected, so a wrong model folder is diagnosed from the message.
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sana::sample {

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& config, std::string origin);

  const std::string& origin() const { return origin_; }
  bool has(const std::string& key) const;  // present and not null

  double number(const std::string& key, double fallback) const;  // also "-Infinity", "-inf", ...
  int integer(const std::string& key, int fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;

  // The key must be absent, null or false: a feature this engine does not implement.
  void require_off(const std::string& key, std::string_view why) const;
  // The key must be absent or null.
  void require_null(const std::string& key, std::string_view why) const;
  // The string value (or `fallback` when absent) must be one of `allowed`; returns it.
  std::string one_of(const std::string& key, const std::string& fallback,
                     std::initializer_list<std::string_view> allowed) const;

  [[noreturn]] void reject(const std::string& key, const std::string& message) const;

 private:
  const nlohmann::json& config_;
  std::string origin_;
};

}  // namespace sana::sample
