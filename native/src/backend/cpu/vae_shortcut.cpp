// The parameter-free shortcuts of DC-AE's resampling blocks, on NHWC images, each fused
// into one pass that adds into the conv output already in y:
//   up:   y += pixel_shuffle(repeat_interleave(x, r, channels), f)
//   down: y += group_mean(pixel_unshuffle(x, f))
// Channel u of the shuffled tensor is (c, i, j) = (u / f^2, (u / f) % f, u % f): channel c at
// sub-pixel row i, column j, as torch's pixel_shuffle / pixel_unshuffle order it.
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "sana/error.h"

namespace sana::cpu {

void CpuBackend::add_channel_repeat(const float* x, int64_t batch, int64_t height, int64_t width,
                                    int64_t in_channels, int64_t factor, int64_t out_channels, float* y) {
  const int64_t ff = factor * factor;
  check(factor >= 1 && in_channels > 0 && (out_channels * ff) % in_channels == 0,
        "add_channel_repeat: " + std::to_string(out_channels) + " x " + std::to_string(ff) +
            " shuffled channels are not a whole repeat of " + std::to_string(in_channels) + " input channels");
  const int64_t repeats = out_channels * ff / in_channels;
  const int64_t oh = height * factor, ow = width * factor;
  pool_.parallel_for(0, batch * oh, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const int64_t b = row / oh, oy = row % oh, i = oy % factor;
      const float* src_row = x + (b * height + oy / factor) * width * in_channels;
      float* dst_row = y + row * ow * out_channels;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t j = ox % factor;
        const float* src = src_row + (ox / factor) * in_channels;
        float* dst = dst_row + ox * out_channels;
        for (int64_t c = 0; c < out_channels; ++c) dst[c] += src[(c * ff + i * factor + j) / repeats];
      }
    }
  });
}

void CpuBackend::add_channel_group_mean(const float* x, int64_t batch, int64_t height, int64_t width,
                                        int64_t in_channels, int64_t factor, int64_t out_channels, float* y) {
  const int64_t ff = factor * factor;
  check(factor >= 1 && height % factor == 0 && width % factor == 0,
        "add_channel_group_mean: " + std::to_string(height) + "x" + std::to_string(width) +
            " is not divisible by the factor " + std::to_string(factor));
  check(out_channels > 0 && (in_channels * ff) % out_channels == 0,
        "add_channel_group_mean: " + std::to_string(in_channels) + " x " + std::to_string(ff) +
            " unshuffled channels do not split into " + std::to_string(out_channels) + " equal groups");
  const int64_t group = in_channels * ff / out_channels;
  const float inv_count = static_cast<float>(group);
  const int64_t oh = height / factor, ow = width / factor;
  pool_.parallel_for(0, batch * oh, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      for (int64_t ox = 0; ox < ow; ++ox) {
        float* dst = y + (row * ow + ox) * out_channels;
        for (int64_t o = 0; o < out_channels; ++o) {
          float sum = 0.0f;
          for (int64_t t = 0; t < group; ++t) {
            const int64_t u = o * group + t, c = u / ff, i = (u / factor) % factor, j = u % factor;
            sum += x[((b * height + oy * factor + i) * width + ox * factor + j) * in_channels + c];
          }
          dst[o] += sum / inv_count;  // torch.mean: the sum divided by the count
        }
      }
    }
  });
}

}  // namespace sana::cpu
