#pragma once
// Checks that a component's weights are what its config.json describes: one float dtype,
// and, for the classes SANA uses, the shapes the config implies. Unknown classes get the
// dtype check only.
#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana {

void validate_component_weights(const Component& component, const Json& config, const Checkpoint& weights);

}  // namespace sana
