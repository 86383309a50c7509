#include <cmath>
#include <numbers>

#include "sana/denoise.h"

namespace sana {

namespace {

struct Block {
  uint32_t v[4];
};

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): counter-based,
// so element i of a stream is computable on its own and the result never depends on how the
// work is split.
Block philox(Block ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.v[2];
    ctr = Block{{static_cast<uint32_t>(p1 >> 32) ^ ctr.v[1] ^ k0, static_cast<uint32_t>(p1),
                 static_cast<uint32_t>(p0 >> 32) ^ ctr.v[3] ^ k1, static_cast<uint32_t>(p0)}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// (0, 1]: never 0, so log() is finite.
double unit_interval(uint32_t bits) { return (static_cast<double>(bits) + 1.0) / 4294967296.0; }

}  // namespace

std::vector<float> gaussian_noise(uint64_t seed, uint64_t stream, size_t count) {
  std::vector<float> out(count);
  const auto k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (size_t base = 0; base < count; base += 4) {
    const uint64_t block = base / 4;
    const Block r = philox(Block{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                  static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}},
                           k0, k1);
    for (int pair = 0; pair < 2; ++pair) {
      const double radius = std::sqrt(-2.0 * std::log(unit_interval(r.v[2 * pair])));
      const double angle = 2.0 * std::numbers::pi * unit_interval(r.v[2 * pair + 1]);
      const size_t i = base + 2 * static_cast<size_t>(pair);
      if (i < count) out[i] = static_cast<float>(radius * std::cos(angle));
      if (i + 1 < count) out[i + 1] = static_cast<float>(radius * std::sin(angle));
    }
  }
  return out;
}

}  // namespace sana
