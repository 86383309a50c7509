#pragma once
// The Gemma-2 text encoder of SANA (transformers Gemma2Model, gemma-2-2b-it): token ids ->
// last hidden state (after the final norm), computed as transformers' eager path computes
// it, in float32, on a backend ("cpu" today). Weights are widened to float32 once at load;
// the embedding table stays in its stored dtype (memory-mapped) and only the rows a prompt
// uses are widened. SanaPipeline's select_index is the caller's (native/lib/text-encoder.ts).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sana/dtype.h"
#include "sana/tensor.h"

namespace sana {

// text_encoder/config.json, with Gemma2Config's defaults for absent keys.
struct Gemma2Config {
  int64_t vocab_size = 256000;
  int64_t hidden_size = 2304;
  int64_t intermediate_size = 9216;
  int64_t num_hidden_layers = 26;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 256;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  double query_pre_attn_scalar = 256.0;
  std::optional<double> attn_logit_softcapping = 50.0;  // unset: no soft cap
  std::optional<int64_t> sliding_window = 4096;         // unset: sliding layers see every key
  std::vector<bool> sliding_layers;                     // per layer: "sliding_attention"
  bool attention_bias = false;

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }

  // Throws naming the key on values this implementation does not support.
  static Gemma2Config from_json(const nlohmann::json& config);
};

// Float32 weights by Gemma2Model tensor name ("embed_tokens.weight", "layers.0.mlp.up_proj.weight",
// ...) with the shape the config implies: what a checkpoint gives, or seeded random values
// for benchmarks that need the real shapes without a 5 GB download.
using Gemma2WeightSource = std::function<Tensor(const std::string& name, const Shape& shape)>;

class Gemma2TextEncoder {
 public:
  // `dir` is a text_encoder/ folder (config.json + safetensors) or a pipeline folder that
  // has one. `backend` names the compute backend.
  static Gemma2TextEncoder load(const std::filesystem::path& dir, const std::string& backend = "cpu");
  // The same encoder from in-memory weights; the embedding table is held as float32.
  static Gemma2TextEncoder build(const Gemma2Config& config, const Gemma2WeightSource& weights,
                                 const std::string& backend = "cpu");

  Gemma2TextEncoder(Gemma2TextEncoder&&) noexcept;
  Gemma2TextEncoder& operator=(Gemma2TextEncoder&&) noexcept;
  ~Gemma2TextEncoder();

  const Gemma2Config& config() const;
  std::string backend_name() const;
  DType weights_dtype() const;  // as stored in the checkpoint
  size_t weight_bytes() const;  // float32 bytes held by the backend
  size_t workspace_bytes() const;        // the backend's per-pass scratch, as sized so far
  size_t workspace_allocations() const;  // system allocations the scratch made so far

  // last_hidden_state (batch, tokens, hidden_size) for right-padded prompts: input_ids and
  // attention_mask (1 = token, 0 = padding) are (batch, tokens) row-major. Positions are
  // 0..tokens-1 in every row, as transformers numbers them. Calls are serialised, so one
  // encoder may be shared between threads.
  Tensor encode(const int32_t* input_ids, const int32_t* attention_mask, int64_t batch, int64_t tokens) const;

  struct Impl;

 private:
  explicit Gemma2TextEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sana
