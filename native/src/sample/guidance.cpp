#include "sample/exact_float.h"
// (exact_float.h first: see there.)
#include "sana/guidance.h"

#include <string>

#include "sana/error.h"

namespace sana {

namespace {

void check_batch(size_t model_values, size_t parts, size_t out_values, const char* what) {
  check(model_values == parts * out_values,
        std::string(what) + ": the model batch has " + std::to_string(model_values) + " values, expected " +
            std::to_string(parts) + " x " + std::to_string(out_values));
}

}  // namespace

void cfg_combine(std::span<const float> model_output, float guidance_scale, std::span<float> out) {
  check_batch(model_output.size(), 2, out.size(), "classifier-free guidance");
  const size_t n = out.size();
  const float* uncond = model_output.data();
  const float* cond = uncond + n;
  for (size_t k = 0; k < n; ++k) out[k] = uncond[k] + guidance_scale * (cond[k] - uncond[k]);
}

void cfg_pag_combine(std::span<const float> model_output, float guidance_scale, float pag_scale,
                     std::span<float> out) {
  check_batch(model_output.size(), 3, out.size(), "classifier-free + perturbed-attention guidance");
  const size_t n = out.size();
  const float* uncond = model_output.data();
  const float* cond = uncond + n;
  const float* perturbed = cond + n;
  for (size_t k = 0; k < n; ++k)
    out[k] = (uncond[k] + guidance_scale * (cond[k] - uncond[k])) + pag_scale * (cond[k] - perturbed[k]);
}

void pag_combine(std::span<const float> model_output, float pag_scale, std::span<float> out) {
  check_batch(model_output.size(), 2, out.size(), "perturbed-attention guidance");
  const size_t n = out.size();
  const float* cond = model_output.data();
  const float* perturbed = cond + n;
  for (size_t k = 0; k < n; ++k) out[k] = cond[k] + pag_scale * (cond[k] - perturbed[k]);
}

double pag_scale_at(double pag_scale, double adaptive_scale, double timestep) {
  if (!(adaptive_scale > 0)) return pag_scale;
  const double scale = pag_scale - adaptive_scale * (1000.0 - timestep);
  return scale < 0 ? 0.0 : scale;
}

float embedded_guidance(double guidance_scale, double guidance_embeds_scale) {
  // torch.full([1], g, dtype=float32) * guidance_embeds_scale: a float32 product.
  return static_cast<float>(guidance_scale) * static_cast<float>(guidance_embeds_scale);
}

}  // namespace sana
