#include "io/component_schema.h"

#include <map>

#include "io/schema_check.h"

namespace sana {

void validate_component_weights(const Component& component, const Json& config, const Checkpoint& weights) {
  ModelFolder::weights_dtype(weights);
  using CheckFn = void (*)(const schema::Checker&);
  static const std::map<std::string, CheckFn> kByClass = {
      {"SanaTransformer2DModel", schema::check_sana_transformer},
      {"AutoencoderDC", schema::check_dc_autoencoder},
      {"Gemma2Model", schema::check_gemma_text_encoder},
      {"Gemma2ForCausalLM", schema::check_gemma_text_encoder},
      {"GemmaModel", schema::check_gemma_text_encoder},
      {"GemmaForCausalLM", schema::check_gemma_text_encoder},
  };
  const auto it = kByClass.find(component.class_name);
  if (it == kByClass.end()) return;
  it->second(schema::Checker(component, config, weights));
}

}  // namespace sana
