#include "sana/denoise.h"

#include <algorithm>
#include <string>

#include "sana/error.h"
#include "sana/guidance.h"
#include "sana/torch_generator.h"

namespace sana {

namespace {

void check_embeddings(const PromptEmbeddings& p, const char* what, int64_t images, int64_t channels) {
  const std::string name(what);
  check(p.batch == 1 || p.batch == images,
        name + " embeddings: batch " + std::to_string(p.batch) + ", expected 1 or " + std::to_string(images));
  check(p.tokens > 0, name + " embeddings: no tokens");
  check(static_cast<int64_t>(p.embeds.size()) == p.batch * p.tokens * channels,
        name + " embeddings: " + std::to_string(p.embeds.size()) + " values, expected batch x tokens x " +
            std::to_string(channels) + " = " + std::to_string(p.batch * p.tokens * channels));
  check(static_cast<int64_t>(p.mask.size()) == p.batch * p.tokens,
        name + " mask: " + std::to_string(p.mask.size()) + " values, expected batch x tokens = " +
            std::to_string(p.batch * p.tokens));
}

// The text rows handed to encode_text: negative rows first (CFG), then the prompt rows.
struct TextBatch {
  std::vector<float> embeds, mask;
  int64_t rows = 0, negative_rows = 0, tokens = 0;
};

TextBatch stack_text(const DenoiseRequest& r, bool cfg) {
  TextBatch t;
  t.tokens = r.prompt.tokens;
  if (cfg) {
    check(r.negative.tokens == r.prompt.tokens, "negative and prompt embeddings must have the same token count (" +
                                                    std::to_string(r.negative.tokens) + " vs " +
                                                    std::to_string(r.prompt.tokens) + ")");
    t.embeds = r.negative.embeds;
    t.mask = r.negative.mask;
    t.negative_rows = r.negative.batch;
  }
  t.embeds.insert(t.embeds.end(), r.prompt.embeds.begin(), r.prompt.embeds.end());
  t.mask.insert(t.mask.end(), r.prompt.mask.begin(), r.prompt.mask.end());
  t.rows = t.negative_rows + r.prompt.batch;
  return t;
}

// Text row of every model-batch item, in the reference's group order:
// [uncond] [cond] [perturbed].
std::vector<int64_t> text_rows(const GuidancePlan& plan, const DenoiseRequest& r, const TextBatch& text) {
  std::vector<int64_t> rows;
  auto group = [&](bool negative) {
    for (int64_t i = 0; i < r.batch; ++i) {
      if (negative) rows.push_back(r.negative.batch == 1 ? 0 : i);
      else rows.push_back(text.negative_rows + (r.prompt.batch == 1 ? 0 : i));
    }
  };
  if (plan.cfg) group(true);
  group(false);
  if (plan.pag) group(false);
  return rows;
}

void validate(const DitConfig& config, const DenoiseRequest& r, const GuidancePlan& plan) {
  check(r.batch >= 1, "denoise: batch must be at least 1");
  check(r.height >= 1 && r.width >= 1, "denoise: latent height and width must be positive");
  check(r.steps >= 1, "denoise: steps must be at least 1, got " + std::to_string(r.steps));
  const int64_t n = r.batch * config.in_channels * r.height * r.width;
  check(r.latents.empty() || static_cast<int64_t>(r.latents.size()) == n,
        "denoise: initial latents have " + std::to_string(r.latents.size()) + " values, expected " +
            std::to_string(n));
  check(r.step_noise.empty() || static_cast<int64_t>(r.step_noise.size()) == n * r.steps,
        "denoise: step noise has " + std::to_string(r.step_noise.size()) + " values, expected steps x " +
            std::to_string(n));
  check_embeddings(r.prompt, "prompt", r.batch, config.caption_channels);
  if (plan.cfg) {
    check(!r.negative.embeds.empty(),
          "denoise: guidance_scale > 1 needs negative prompt embeddings (encode the empty prompt for none)");
    check_embeddings(r.negative, "negative prompt", r.batch, config.caption_channels);
  }
  check(!(plan.pag && plan.embedded_guidance), "denoise: PAG is not defined for guidance-distilled (Sprint) models");
  check(!plan.pag || !r.pag_layers.empty(), "denoise: pag_scale > 0 needs at least one PAG layer");
  for (int layer : r.pag_layers)
    check(layer >= 0 && layer < config.num_layers,
          "denoise: PAG layer " + std::to_string(layer) + " outside 0.." + std::to_string(config.num_layers - 1));
  const bool scm = r.sampler.kind() == SamplerKind::Scm;
  check(scm == config.guidance_embeds, scm ? "denoise: the scm sampler needs a Sana-Sprint (guidance-embedding) model"
                                           : "denoise: a Sana-Sprint model must be sampled with the scm sampler");
}

// `timestep` is the scheduler's (0..1000), which adaptive PAG scales by.
void guide(const GuidancePlan& plan, const DenoiseRequest& r, double timestep, std::span<const float> model_out,
           std::span<float> out) {
  const auto pag = static_cast<float>(pag_scale_at(r.pag_scale, r.pag_adaptive_scale, timestep));
  if (plan.cfg && plan.pag)
    cfg_pag_combine(model_out, static_cast<float>(r.guidance_scale), pag, out);
  else if (plan.cfg)
    cfg_combine(model_out, static_cast<float>(r.guidance_scale), out);
  else if (plan.pag)
    pag_combine(model_out, pag, out);
  else
    std::copy(model_out.begin(), model_out.end(), out.begin());
}

}  // namespace

GuidancePlan plan_guidance(const DitConfig& config, const DenoiseRequest& request) {
  GuidancePlan plan;
  plan.embedded_guidance = config.guidance_embeds;
  plan.cfg = !plan.embedded_guidance && request.guidance_scale > 1.0;
  plan.pag = request.pag_scale > 0.0;
  plan.groups = 1 + (plan.cfg ? 1 : 0) + (plan.pag ? 1 : 0);
  return plan;
}

DenoiseResult denoise(SanaTransformer& transformer, const DenoiseRequest& r, const DenoiseObserver& observer,
                      const std::atomic<bool>* cancel) {
  const DitConfig& config = transformer.config();
  const GuidancePlan plan = plan_guidance(config, r);
  validate(config, r, plan);

  const size_t image_size = static_cast<size_t>(config.in_channels * r.height * r.width);
  const size_t n = image_size * static_cast<size_t>(r.batch);
  const int64_t model_batch = plan.groups * r.batch;

  auto sampler = make_sampler(r.sampler, r.steps);
  // One torch CPU generator per run, drawn in diffusers' order: the initial latents (unless
  // given), then Sprint's noise at every step, so that a seed reproduces diffusers' image.
  TorchGenerator generator(r.seed);
  std::vector<float> latents = r.latents.empty() ? generator.randn(n) : r.latents;
  const float initial_scale = sampler->initial_latent_scale();
  if (initial_scale != 1.0f)
    for (float& v : latents) v *= initial_scale;

  const TextBatch text = stack_text(r, plan.cfg);
  const DitTextContext context = transformer.encode_text(text.embeds.data(), text.rows, text.tokens, text.mask.data());

  DitStepInput input;
  input.batch = model_batch;
  input.height = r.height;
  input.width = r.width;
  input.text_index = text_rows(plan, r, text);
  if (plan.pag) {
    input.pag_layers.assign(static_cast<size_t>(config.num_layers), 0);
    for (int layer : r.pag_layers) input.pag_layers[static_cast<size_t>(layer)] = 1;
    input.perturbed.assign(static_cast<size_t>(model_batch), 0);
    std::fill(input.perturbed.end() - r.batch, input.perturbed.end(), 1);
  }
  std::vector<float> guidance;
  if (plan.embedded_guidance)
    guidance.assign(static_cast<size_t>(model_batch),
                    embedded_guidance(r.guidance_scale, config.guidance_embeds_scale));

  std::vector<float> x(n), model_in(n * plan.groups), model_out(n * plan.groups), guided(n), velocity(n);
  std::vector<float> timestep(static_cast<size_t>(model_batch));
  std::vector<float> drawn_noise(sampler->needs_noise() && r.step_noise.empty() ? n : 0);
  const std::vector<double> schedule = sampler->timesteps();
  DenoiseResult result;
  for (int step = 0; step < r.steps; ++step) {
    if (cancel && cancel->load()) {
      result.cancelled = true;
      break;
    }
    sampler->model_input(step, latents, x);
    for (int g = 0; g < plan.groups; ++g) std::copy(x.begin(), x.end(), model_in.begin() + g * n);
    const float t = sampler->transformer_timestep(step);
    std::fill(timestep.begin(), timestep.end(), t);
    input.latents = model_in.data();
    input.timestep = timestep.data();
    input.guidance = guidance.empty() ? nullptr : guidance.data();
    transformer.forward(context, input, model_out.data());

    guide(plan, r, schedule[static_cast<size_t>(step)], model_out, guided);
    sampler->model_output_to_step_input(step, x, guided, velocity);
    std::span<const float> noise;
    if (sampler->needs_noise()) {
      if (r.step_noise.empty()) {
        generator.randn(drawn_noise);
        noise = drawn_noise;
      } else {
        noise = std::span<const float>(r.step_noise).subspan(static_cast<size_t>(step) * n, n);
      }
    }
    sampler->step(velocity, latents, noise);
    result.steps_completed = step + 1;
    if (observer) observer(DenoiseStep{step, r.steps, latents, sampler->denoised(), model_out, t});
  }
  if (result.cancelled) return result;
  result.latents.resize(n);
  sampler->final_latents(latents, result.latents);
  return result;
}

}  // namespace sana
