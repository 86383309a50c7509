// SanaTransformer2DModel.forward (diffusers sana_transformer.py) on a Backend.
//
// Layout: activations are token-major (B * N rows of D floats, token = y * w + x), which
// turns every 1x1 conv and Linear into one GEMM over all tokens of the batch and keeps the
// depthwise conv's taps contiguous. Per block:
//   x += gate_msa * attn1(LN(x) * (1 + scale_msa) + shift_msa)       linear attention
//   x += attn2(x, caption)                                           softmax, text mask
//   x += gate_mlp * GLUMBConv(LN(x) * (1 + scale_mlp) + shift_mlp)
#include <cmath>
#include <map>
#include <mutex>
#include <string>

#include "backend/backend.h"
#include "core/profiler.h"
#include "model/sana_dit_embed.h"
#include "model/sana_dit_weights.h"
#include "sana/dit.h"
#include "sana/error.h"
#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana {

namespace fs = std::filesystem;

// Epsilons diffusers hard-codes (the block LayerNorms use config.norm_eps).
constexpr float kCaptionNormEps = 1e-5f;  // caption_norm = RMSNorm(eps=1e-5)
constexpr float kQkNormEps = 1e-5f;       // Attention(qk_norm=...) default eps
constexpr float kOutputNormEps = 1e-6f;   // SanaModulatedNorm(eps=1e-6)
constexpr float kMaskBias = -10000.0f;    // (1 - mask) * -10000.0

struct DitTextContext::State {
  const void* owner = nullptr;  // the SanaTransformer::Impl that encoded it
  int64_t batch = 0, tokens = 0;
  std::vector<Buffer> kv;  // per layer (batch * tokens, 2 * cross_inner): k | v
  Buffer key_bias;         // (batch, tokens) or empty
  size_t bytes = 0;
};

DitTextContext::DitTextContext() = default;
DitTextContext::~DitTextContext() = default;
DitTextContext::DitTextContext(DitTextContext&&) noexcept = default;
DitTextContext& DitTextContext::operator=(DitTextContext&&) noexcept = default;
int64_t DitTextContext::batch() const { return state_ ? state_->batch : 0; }
int64_t DitTextContext::tokens() const { return state_ ? state_->tokens : 0; }
size_t DitTextContext::bytes() const { return state_ ? state_->bytes : 0; }

const Tensor* DitCaptures::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

struct SanaTransformer::Impl {
  DitConfig config;
  std::unique_ptr<Backend> backend;
  dit::Weights weights;
  std::map<std::pair<int64_t, int64_t>, Buffer> pos_embed;  // per token grid (h, w)

  void capture(DitCaptures* captures, const std::string& name, const float* data, Shape shape) {
    if (!captures) return;
    Tensor t(std::move(shape));
    backend->download(t.data(), data, static_cast<size_t>(t.numel()));
    captures->tensors.emplace_back(name, std::move(t));
  }

  const float* positional_embedding(int64_t h, int64_t w) {
    auto it = pos_embed.find({h, w});
    if (it == pos_embed.end()) {
      const int64_t d = config.inner_dim();
      const std::vector<float> pe = dit::sincos_pos_embed(d, h, w, config.sample_size / config.patch_size,
                                                          *config.interpolation_scale);
      Buffer buf = backend->alloc(pe.size());
      backend->upload(buf.data(), pe.data(), pe.size());
      it = pos_embed.emplace(std::make_pair(h, w), std::move(buf)).first;
    }
    return it->second.data();
  }

  // embedded_timestep (B, D): TimestepEmbedding(sinusoid(t)) [+ the guidance embedder's].
  void embed_timestep(const float* t, const float* guidance, int64_t batch, float* emb) {
    Backend& be = *backend;
    const int64_t d = config.inner_dim();
    const auto mlp = [&](const dit::MlpWeights& m, const float* values, bool accumulate) {
      const std::vector<float> proj = dit::timestep_embedding(values, batch);
      float* in = be.scratch(proj.size());
      be.upload(in, proj.data(), proj.size());
      float* hidden = be.scratch(static_cast<size_t>(batch * d));
      be.linear(in, batch, 256, m.w1.data(), d, m.b1.data(), Activation::SiLU, hidden);
      be.linear(hidden, batch, d, m.w2.data(), d, m.b2.data(), Activation::None, emb, accumulate);
    };
    mlp(weights.timestep, t, false);
    if (config.guidance_embeds) mlp(weights.guidance, guidance, true);
  }
};

SanaTransformer::SanaTransformer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SanaTransformer::SanaTransformer(SanaTransformer&&) noexcept = default;
SanaTransformer& SanaTransformer::operator=(SanaTransformer&&) noexcept = default;
SanaTransformer::~SanaTransformer() = default;

const DitConfig& SanaTransformer::config() const { return impl_->config; }
std::string SanaTransformer::backend_name() const { return std::string(impl_->backend->name()); }
size_t SanaTransformer::weight_bytes() const { return impl_->weights.bytes; }
size_t SanaTransformer::workspace_bytes() const { return impl_->backend->scratch_bytes(); }
size_t SanaTransformer::workspace_allocations() const { return impl_->backend->scratch_system_allocations(); }

SanaTransformer SanaTransformer::build(const DitConfig& config, const DitWeightSource& weights,
                                       const std::string& backend) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->backend = make_backend(backend);
  impl->weights = dit::load_weights(config, weights, *impl->backend);
  return SanaTransformer(std::move(impl));
}

SanaTransformer SanaTransformer::load(const fs::path& dir, const std::string& backend) {
  // Accept the transformer/ folder itself or a pipeline folder containing one.
  const fs::path folder = fs::is_regular_file(dir / "config.json") ? dir : dir / "transformer";
  const DitConfig config = DitConfig::from_json(read_json_file(folder / "config.json"));
  const Checkpoint checkpoint = Checkpoint::open_dir(folder);
  return build(
      config, [&](const std::string& name, const Shape& shape) { return checkpoint.load_f32(name, shape); },
      backend);
}

DitTextContext SanaTransformer::encode_text(const float* caption, int64_t batch, int64_t tokens, const float* mask,
                                            DitCaptures* captures) {
  Impl& m = *impl_;
  Backend& be = *m.backend;
  const DitConfig& c = m.config;
  check(caption != nullptr && batch > 0 && tokens > 0, "encode_text: caption must be a non-empty (batch, tokens, " +
                                                            std::to_string(c.caption_channels) + ") array");
  const int64_t d = c.inner_dim(), x = c.cross_inner_dim(), rows = batch * tokens;
  be.reset_scratch();

  float* cap = be.scratch(static_cast<size_t>(rows * c.caption_channels));
  be.upload(cap, caption, static_cast<size_t>(rows * c.caption_channels));
  float* hidden = be.scratch(static_cast<size_t>(rows * d));
  float* proj = be.scratch(static_cast<size_t>(rows * d));
  float* normed = be.scratch(static_cast<size_t>(rows * d));
  const dit::Weights& w = m.weights;
  be.linear(cap, rows, c.caption_channels, w.cap1_w.data(), d, w.cap1_b.data(), Activation::GeluTanh, hidden);
  be.linear(hidden, rows, d, w.cap2_w.data(), d, w.cap2_b.data(), Activation::None, proj);
  m.capture(captures, "caption_projection_out", proj, {batch, tokens, d});
  be.rms_norm(proj, rows, d, d, w.cap_norm.data(), kCaptionNormEps, normed, d);
  m.capture(captures, "caption_norm_out", normed, {batch, tokens, d});

  auto state = std::make_unique<DitTextContext::State>();
  state->owner = &m;
  state->batch = batch;
  state->tokens = tokens;
  for (const dit::LayerWeights& l : w.layers) {
    Buffer kv = be.alloc(static_cast<size_t>(rows * 2 * x));
    be.linear(normed, rows, d, l.xkv_w.data(), 2 * x, l.xkv_b.data(), Activation::None, kv.data());
    if (c.qk_norm) be.rms_norm(kv.data(), rows, x, 2 * x, l.xnorm_k.data(), kQkNormEps, kv.data(), 2 * x);
    state->bytes += kv.size() * sizeof(float);
    state->kv.push_back(std::move(kv));
  }
  if (mask) {
    std::vector<float> bias(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) bias[i] = (1.0f - mask[i]) * kMaskBias;
    state->key_bias = be.alloc(bias.size());
    be.upload(state->key_bias.data(), bias.data(), bias.size());
    state->bytes += bias.size() * sizeof(float);
  }
  DitTextContext text;
  text.state_ = std::move(state);
  return text;
}

Tensor SanaTransformer::forward(const DitTextContext& text, const DitStepInput& in, DitCaptures* captures) {
  Tensor out({in.batch, impl_->config.out_channels, in.height, in.width});
  forward(text, in, out.data(), captures);
  return out;
}

void SanaTransformer::forward(const DitTextContext& text, const DitStepInput& in, float* out,
                              DitCaptures* captures) {
  Impl& m = *impl_;
  Backend& be = *m.backend;
  const DitConfig& c = m.config;
  const dit::Weights& w = m.weights;
  const DitTextContext::State* ts = text.state_.get();

  // ---- validate -----------------------------------------------------------------------------
  check(ts != nullptr && ts->owner == &m, "forward: the text context was not encoded by this transformer");
  check(in.latents != nullptr && in.timestep != nullptr && out != nullptr,
        "forward: latents, timestep and output are required");
  const int64_t B = in.batch, p = c.patch_size;
  check(B > 0 && in.height > 0 && in.width > 0, "forward: empty latent batch");
  check(in.height % p == 0 && in.width % p == 0,
        "forward: latent size " + std::to_string(in.height) + "x" + std::to_string(in.width) +
            " is not a multiple of patch_size " + std::to_string(p));
  check(!c.guidance_embeds || in.guidance != nullptr,
        "forward: this transformer has a guidance embedder (Sana-Sprint): guidance is required");
  std::vector<int64_t> kv_index = in.text_index;
  if (kv_index.empty()) {
    check(ts->batch == B, "forward: latent batch " + std::to_string(B) + " but the text context holds " +
                              std::to_string(ts->batch) + " prompts (pass text_index to share prompts)");
  } else {
    check(static_cast<int64_t>(kv_index.size()) == B, "forward: text_index needs one entry per latent item");
    for (int64_t i : kv_index)
      check(i >= 0 && i < ts->batch, "forward: text_index entry " + std::to_string(i) + " is outside the " +
                                         std::to_string(ts->batch) + " encoded prompts");
  }
  check(in.pag_layers.empty() || static_cast<int64_t>(in.pag_layers.size()) == c.num_layers,
        "forward: pag_layers needs one flag per layer (" + std::to_string(c.num_layers) + ")");
  check(in.perturbed.empty() || static_cast<int64_t>(in.perturbed.size()) == B,
        "forward: perturbed needs one flag per batch item");

  const int64_t h = in.height / p, wd = in.width / p, N = h * wd, M = B * N;
  const int64_t D = c.inner_dim(), X = c.cross_inner_dim(), F = c.mlp_hidden(), L = ts->tokens;
  const int64_t cpp = c.in_channels * p * p;
  const float eps = static_cast<float>(c.norm_eps);

  // ---- workspace: the same spans in the same order every call, so the arena settles ----------
  be.reset_scratch();
  float* latents = be.scratch(static_cast<size_t>(B * cpp * N));
  float* patches = be.scratch(static_cast<size_t>(M * cpp));
  float* x = be.scratch(static_cast<size_t>(M * D));
  float* xn = be.scratch(static_cast<size_t>(M * D));
  float* tmp = be.scratch(static_cast<size_t>(M * D));
  float* qkv = be.scratch(static_cast<size_t>(M * 3 * D));
  float* attn = be.scratch(static_cast<size_t>(M * std::max(D, X)));
  float* cq = be.scratch(static_cast<size_t>(M * X));
  float* ff_in = be.scratch(static_cast<size_t>(M * 2 * F));
  float* ff_mid = be.scratch(static_cast<size_t>(M * F));
  float* emb = be.scratch(static_cast<size_t>(B * D));
  float* emb_act = be.scratch(static_cast<size_t>(B * D));
  float* temb = be.scratch(static_cast<size_t>(B * 6 * D));
  float* mod = be.scratch(static_cast<size_t>(B * 6 * D));
  float* head = be.scratch(static_cast<size_t>(M * p * p * c.out_channels));
  float* sample = be.scratch(static_cast<size_t>(B * c.out_channels * in.height * in.width));
  const int64_t* kv_index_dev = nullptr;  // a host array: the CPU backend reads it directly
  if (!kv_index.empty()) kv_index_dev = kv_index.data();

  LapProfiler prof;
  const auto lap = [&](const char* name) { prof.lap(name); };

  // ---- 1. patch embedding (+ sin-cos positions) ----------------------------------------------
  be.upload(latents, in.latents, static_cast<size_t>(B * c.in_channels * in.height * in.width));
  be.patchify(latents, B, c.in_channels, in.height, in.width, p, patches);
  be.linear(patches, M, cpp, w.patch_w.data(), D, w.patch_b.data(), Activation::None, x);
  if (c.interpolation_scale) {
    const float* pe = m.positional_embedding(h, wd);
    for (int64_t b = 0; b < B; ++b) be.add(x + b * N * D, pe, N * D);
  }
  m.capture(captures, "patch_embed_out", x, {B, N, D});
  lap("patch_embed");

  // ---- 2. timestep (+ guidance) -> adaLN-single ----------------------------------------------
  m.embed_timestep(in.timestep, in.guidance, B, emb);
  be.copy(emb_act, emb, static_cast<size_t>(B * D));
  be.activate(Activation::SiLU, emb_act, B, D, D);
  be.linear(emb_act, B, D, w.adaln_w.data(), 6 * D, w.adaln_b.data(), Activation::None, temb);
  m.capture(captures, "time_embed_out", temb, {B, 6 * D});
  m.capture(captures, "embedded_timestep", emb, {B, D});
  lap("time_embed");

  // ---- 3. blocks -----------------------------------------------------------------------------
  const uint8_t* perturbed = in.perturbed.empty() ? nullptr : in.perturbed.data();
  const float* key_bias = ts->key_bias.empty() ? nullptr : ts->key_bias.data();
  const float cross_scale = 1.0f / std::sqrt(static_cast<float>(c.cross_attention_head_dim));
  for (int64_t li = 0; li < c.num_layers; ++li) {
    const dit::LayerWeights& l = w.layers[li];
    const bool pag = !in.pag_layers.empty() && in.pag_layers[li] != 0;
    // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = table + temb rows
    be.add_table(l.scale_shift_table.data(), 6, D, temb, 6, B, mod);
    const float *shift_msa = mod, *scale_msa = mod + D, *gate_msa = mod + 2 * D;
    const float *shift_mlp = mod + 3 * D, *scale_mlp = mod + 4 * D, *gate_mlp = mod + 5 * D;
    lap("modulation");

    // Self-attention (ReLU linear attention).
    be.layer_norm_modulate(x, B, N, D, eps, shift_msa, scale_msa, 6 * D, xn);
    lap("norm_modulate");
    be.linear(xn, M, D, l.qkv_w.data(), 3 * D, l.qkv_b.empty() ? nullptr : l.qkv_b.data(), Activation::None, qkv);
    lap("gemm_qkv");
    if (c.qk_norm && !pag) {
      be.rms_norm(qkv, M, D, 3 * D, l.norm_q.data(), kQkNormEps, qkv, 3 * D);
      be.rms_norm(qkv + D, M, D, 3 * D, l.norm_k.data(), kQkNormEps, qkv + D, 3 * D);
      lap("qk_norm");
    }
    be.linear_attention(qkv, qkv + D, qkv + 2 * D, 3 * D, B, N, c.num_attention_heads, c.attention_head_dim,
                        pag ? perturbed : nullptr, attn, D);
    lap("linear_attention");
    be.linear(attn, M, D, l.out_w.data(), D, l.out_b.data(), Activation::None, tmp);
    lap("gemm_attn_out");
    be.gated_add(x, tmp, gate_msa, 6 * D, B, N, D);
    lap("gated_residual");

    // Cross-attention on the un-normalised x; its residual is added by the GEMM itself.
    be.linear(x, M, D, l.xq_w.data(), X, l.xq_b.data(), Activation::None, cq);
    lap("gemm_cross_q");
    if (c.qk_norm) be.rms_norm(cq, M, X, X, l.xnorm_q.data(), kQkNormEps, cq, X);
    lap("qk_norm");
    const float* kv = ts->kv[li].data();
    be.softmax_attention(cq, X, kv, kv + X, 2 * X, key_bias, kv_index_dev, B, N, L, c.num_cross_attention_heads,
                         c.cross_attention_head_dim, cross_scale, attn, X);
    lap("cross_attention");
    be.linear(attn, M, X, l.xout_w.data(), D, l.xout_b.data(), Activation::None, x, /*accumulate=*/true);
    lap("gemm_cross_out");

    // Mix-FFN (GLUMBConv): 1x1 expand + SiLU, depthwise 3x3 + GLU, 1x1 project.
    be.layer_norm_modulate(x, B, N, D, eps, shift_mlp, scale_mlp, 6 * D, xn);
    lap("norm_modulate");
    be.linear(xn, M, D, l.inv_w.data(), 2 * F, l.inv_b.data(), Activation::SiLU, ff_in);
    lap("gemm_ff_inverted_silu");
    be.dwconv3x3_glu(ff_in, B, h, wd, F, l.dw_w.data(), l.dw_b.data(), ff_mid);
    lap("dwconv_glu");
    be.linear(ff_mid, M, F, l.point_w.data(), D, nullptr, Activation::None, tmp);
    lap("gemm_ff_point");
    be.gated_add(x, tmp, gate_mlp, 6 * D, B, N, D);
    lap("gated_residual");
    if (captures) m.capture(captures, "block" + std::to_string(li) + "_out", x, {B, N, D});
    lap("capture");
  }

  // ---- 4. output head: modulated norm, projection, unpatchify ----------------------------------
  be.add_table(w.final_table.data(), 2, D, emb, 1, B, mod);  // shift, scale
  be.layer_norm_modulate(x, B, N, D, kOutputNormEps, mod, mod + D, 2 * D, xn);
  m.capture(captures, "norm_out", xn, {B, N, D});
  be.linear(xn, M, D, w.proj_w.data(), p * p * c.out_channels, w.proj_b.data(), Activation::None, head);
  be.unpatchify(head, B, h, wd, p, c.out_channels, sample);
  be.download(out, sample, static_cast<size_t>(B * c.out_channels * in.height * in.width));
  lap("output_head");
  prof.report("SanaTransformer.forward");
}

}  // namespace sana
