#include "backend/cpu/cpu_backend.h"

namespace sana::cpu {

void CpuBackend::patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t p,
                          float* tokens) {
  const int64_t h = height / p, w = width / p, cpp = channels * p * p;
  pool_.parallel_for(0, batch * h, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t by = lo; by < hi; ++by) {
      const int64_t b = by / h, y = by % h;
      for (int64_t xx = 0; xx < w; ++xx) {
        float* t = tokens + ((b * h + y) * w + xx) * cpp;
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t dy = 0; dy < p; ++dy)
            for (int64_t dx = 0; dx < p; ++dx)
              t[(c * p + dy) * p + dx] = x[((b * channels + c) * height + y * p + dy) * width + xx * p + dx];
      }
    }
  });
}

void CpuBackend::unpatchify(const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p, int64_t channels,
                            float* x) {
  const int64_t height = h * p, width = w * p, cpp = channels * p * p;
  pool_.parallel_for(0, batch * channels, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t bc = lo; bc < hi; ++bc) {
      const int64_t b = bc / channels, c = bc % channels;
      for (int64_t yy = 0; yy < height; ++yy)
        for (int64_t xx = 0; xx < width; ++xx) {
          const int64_t y = yy / p, dy = yy % p, x0 = xx / p, dx = xx % p;
          x[(bc * height + yy) * width + xx] = tokens[((b * h + y) * w + x0) * cpp + (dy * p + dx) * channels + c];
        }
    }
  });
}

}  // namespace sana::cpu
