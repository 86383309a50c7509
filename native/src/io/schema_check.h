#pragma once
// The toolkit of the per-class schema files: read config.json values with messages that name
// the key, and compare tensors against the shapes those values imply.
#include <string>
#include <vector>

#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana::schema {

class Checker {
 public:
  Checker(const Component& component, const Json& config, const Checkpoint& weights);

  int64_t config_int(const std::string& key) const;                    // required
  int64_t config_int(const std::string& key, int64_t fallback) const;  // absent or null -> fallback
  double config_number(const std::string& key, double fallback) const;
  bool config_bool(const std::string& key, bool fallback) const;
  bool config_is_set(const std::string& key) const;  // present and not null
  std::vector<int64_t> config_ints(const std::string& key) const;

  bool has(const std::string& tensor) const { return weights_.contains(tensor); }
  // `formula` spells the expected shape in config terms, e.g. "[inner, in_channels, p, p]".
  void expect_shape(const std::string& tensor, const Shape& expected, const std::string& formula) const;
  // `prefix`.<i>.* must exist for exactly i = 0 .. expected-1.
  void expect_layer_count(const std::string& prefix, int64_t expected, const std::string& config_key) const;
  // Indices of `prefix`.<i>.* present in the checkpoint, ascending.
  std::vector<int64_t> layer_indices(const std::string& prefix) const;

  [[noreturn]] void fail_config(const std::string& message) const;
  [[noreturn]] void fail_weights(const std::string& message) const;

 private:
  const Json& config_value(const std::string& key) const;

  const Component& component_;
  const Json& config_;
  const Checkpoint& weights_;
};

// One function per known class; each throws sana::Error on the first mismatch.
void check_sana_transformer(const Checker& c);
void check_dc_autoencoder(const Checker& c);
void check_gemma_text_encoder(const Checker& c);

}  // namespace sana::schema
