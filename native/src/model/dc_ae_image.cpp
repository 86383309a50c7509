// The pipeline's conversions of a decoded image, reproduced bit for bit:
//   VaeImageProcessor.denormalize: (x * 0.5 + 0.5).clamp(0, 1)       (torch, float32)
//   numpy_to_pil:                  (x * 255).round().astype("uint8")  (numpy, float32)
// numpy's round() is round-half-to-even, which std::nearbyint gives in the default
// rounding mode; x * 0.5 is exact, so fusing it with the + 0.5 cannot change the result.
#include <cmath>

#include "sana/dc_ae.h"

namespace sana {

namespace {

float to_unit(float x) {
  const float v = x * 0.5f + 0.5f;
  // clamp(0, 1) as torch does it: NaN passes through unchanged.
  return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

}  // namespace

Tensor image_to_unit(const Tensor& nhwc) {
  Tensor out(nhwc.shape());
  const float* src = nhwc.data();
  float* dst = out.data();
  for (int64_t i = 0; i < nhwc.numel(); ++i) dst[i] = to_unit(src[i]);
  return out;
}

std::vector<uint8_t> image_to_rgb8(const Tensor& nhwc) {
  std::vector<uint8_t> out(static_cast<size_t>(nhwc.numel()));
  const float* src = nhwc.data();
  for (int64_t i = 0; i < nhwc.numel(); ++i) {
    const float scaled = to_unit(src[i]) * 255.0f;
    // NaN has no uint8 value; numpy's cast is undefined there, 0 is the safe choice.
    out[static_cast<size_t>(i)] = std::isnan(scaled) ? 0 : static_cast<uint8_t>(std::nearbyint(scaled));
  }
  return out;
}

}  // namespace sana
