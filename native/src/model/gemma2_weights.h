#pragma once
// Gemma-2 weights in backend memory, rearranged once at load: q|k|v and gate|up fused into
// one GEMM each, every RMSNorm weight stored as (1 + w) (Gemma2RMSNorm multiplies by
// 1 + weight in float32). The embedding table is not here: it stays memory-mapped.
#include <vector>

#include "backend/backend.h"
#include "sana/gemma2.h"
#include "sana/safetensors.h"

namespace sana::gemma2 {

struct LayerWeights {
  Buffer input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm;  // (hidden), 1 + w
  Buffer qkv_w;  // (q_dim + 2 * kv_dim, hidden): q_proj; k_proj; v_proj
  Buffer qkv_b;  // (q_dim + 2 * kv_dim) when attention_bias
  Buffer o_w;    // (hidden, q_dim)
  Buffer o_b;    // (hidden) when attention_bias
  Buffer gate_up_w;  // (2 * intermediate, hidden): gate_proj; up_proj
  Buffer down_w;     // (hidden, intermediate)
};

struct Weights {
  std::vector<LayerWeights> layers;
  Buffer final_norm;  // (hidden), 1 + w
  size_t bytes = 0;
};

// "" for Gemma2Model checkpoints, "model." for Gemma2ForCausalLM ones.
std::string tensor_prefix(const Checkpoint& checkpoint);

// `source` names tensors as Gemma2Model does (no "model." prefix).
Weights load_weights(const Gemma2Config& config, const Gemma2WeightSource& source, Backend& backend);

// A source reading `checkpoint` (which must outlive it), with tensor_prefix() applied.
Gemma2WeightSource checkpoint_source(const Checkpoint& checkpoint);

}  // namespace sana::gemma2
