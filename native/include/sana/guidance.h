#pragma once
// Guidance: how the pipelines combine the transformer outputs of one batched call.
// The batch layouts are the references': CFG = cat([uncond, cond]); PAG with CFG =
// cat([uncond, cond, perturbed]); PAG without CFG = cat([cond, perturbed]). Each helper
// takes the whole model batch and writes one guided prediction per image, evaluating the
// expression in the order torch does (each operation rounded to float32).
#include <span>

namespace sana {

// uncond + g * (cond - uncond); `model_output` holds 2 * out.size() values.
void cfg_combine(std::span<const float> model_output, float guidance_scale, std::span<float> out);

// uncond + g * (cond - uncond) + pag * (cond - perturbed); 3 * out.size() values.
void cfg_pag_combine(std::span<const float> model_output, float guidance_scale, float pag_scale,
                     std::span<float> out);

// cond + pag * (cond - perturbed); 2 * out.size() values.
void pag_combine(std::span<const float> model_output, float pag_scale, std::span<float> out);

// PAGMixin._get_pag_scale: with adaptive scaling (adaptive_scale > 0) the scale decays as
// pag_scale - adaptive_scale * (1000 - t), floored at 0.
double pag_scale_at(double pag_scale, double adaptive_scale, double timestep);

// SanaSprintPipeline's guidance input: float32(guidance_scale) * guidance_embeds_scale.
float embedded_guidance(double guidance_scale, double guidance_embeds_scale);

}  // namespace sana
