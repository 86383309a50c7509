#include "sana/torch_generator.h"

#include <bit>
#include <cmath>
#include <numbers>

// Bit-exactness with torch is the point of this file, so the float arithmetic below follows
// torch's compiled kernel operation by operation. Where that kernel fuses a multiply into an
// add (GCC contracts its AVX intrinsics into FMA instructions), the fusion is spelled
// std::fma here; no other product feeds a sum, so the compiler's own contraction settings
// cannot change a bit. The tests compare against values drawn by torch itself.

namespace sana {

namespace {

// torch keeps the constants of its vectorised log/sincos as double literals narrowed to float.
constexpr float narrow(double value) { return static_cast<float>(value); }

uint32_t bits(float v) { return std::bit_cast<uint32_t>(v); }
float from_bits(uint32_t b) { return std::bit_cast<float>(b); }

// The Cephes single-precision logarithm as torch vectorises it (log256_ps), for x in (0, 1]:
// x = m * 2^e with m in [sqrt(1/2), sqrt(2)), log = (m - 1) - (m - 1)^2 / 2 + P(m - 1) + e log 2,
// with log 2 split in two parts so that e * log 2 adds no rounding error.
float cephes_log(float x) {
  constexpr float kSqrtHalf = narrow(0.707106781186547524);
  constexpr float kPoly[] = {narrow(7.0376836292E-2),  narrow(-1.1514610310E-1), narrow(1.1676998740E-1),
                             narrow(-1.2420140846E-1), narrow(1.4249322787E-1),  narrow(-1.6668057665E-1),
                             narrow(2.0000714765E-1),  narrow(-2.4999993993E-1), narrow(3.3333331174E-1)};
  constexpr float kLog2Low = narrow(-2.12194440e-4);
  constexpr float kLog2High = narrow(0.693359375);

  const uint32_t b = bits(x);
  float exponent = static_cast<float>(static_cast<int32_t>(b >> 23) - 0x7f) + 1.0f;
  // The mantissa as a float in [0.5, 1): keep the fraction bits, force the exponent of 0.5.
  float m = from_bits((b & ~0x7f800000u) | bits(0.5f));
  const bool below = m < kSqrtHalf;
  const float doubled = below ? m : 0.0f;  // below sqrt(1/2): use 2m - 1 and one less exponent
  m = m - 1.0f;
  exponent = exponent - (below ? 1.0f : 0.0f);
  m = m + doubled;

  const float z = m * m;
  float y = kPoly[0];
  for (size_t k = 1; k < std::size(kPoly); ++k) y = std::fma(y, m, kPoly[k]);
  y = y * m;
  y = std::fma(y, z, exponent * kLog2Low);
  y = std::fma(-z, 0.5f, y);
  return std::fma(exponent, kLog2High, m + y);
}

struct SinCos {
  float sin, cos;
};

// The Cephes single-precision sine and cosine as torch vectorises them (sincos256_ps): reduce
// by multiples of pi/4 in three extended-precision steps, then one polynomial per octant pair.
SinCos cephes_sincos(float x) {
  constexpr float kFourOverPi = narrow(1.27323954473516);
  constexpr float kMinusPiOver4[] = {narrow(-0.78515625), narrow(-2.4187564849853515625e-4),
                                     narrow(-3.77489497744594108e-8)};
  constexpr float kCos[] = {narrow(2.443315711809948E-005), narrow(-1.388731625493765E-003),
                            narrow(4.166664568298827E-002)};
  constexpr float kSin[] = {narrow(-1.9515295891E-4), narrow(8.3321608736E-3), narrow(-1.6666654611E-1)};
  constexpr uint32_t kSign = 0x80000000u;

  uint32_t sin_sign = bits(x) & kSign;
  x = std::fabs(x);
  // The octant, rounded up to even (truncation, as cvttps does).
  const int32_t octant = (static_cast<int32_t>(x * kFourOverPi) + 1) & ~1;
  const float y = static_cast<float>(octant);
  sin_sign ^= static_cast<uint32_t>(octant & 4) << 29;
  const uint32_t cos_sign = static_cast<uint32_t>(~(octant - 2) & 4) << 29;
  const bool sine_poly_is_sine = (octant & 2) == 0;

  for (float part : kMinusPiOver4) x = std::fma(y, part, x);

  const float z = x * x;
  float c = std::fma(kCos[0], z, kCos[1]);
  c = std::fma(c, z, kCos[2]);
  c = c * z;
  c = std::fma(c, z, -(z * 0.5f));
  c = c + 1.0f;

  float s = std::fma(kSin[0], z, kSin[1]);
  s = std::fma(s, z, kSin[2]);
  s = s * z;
  s = std::fma(s, x, x);

  // torch selects with masks and adds the unselected polynomial as +0 (x - x), which turns a
  // -0 result into +0; the same additions keep the signed zeros identical.
  const float sin_from_s = sine_poly_is_sine ? s : 0.0f;
  const float sin_from_c = sine_poly_is_sine ? 0.0f : c;
  const float sine = sin_from_c + sin_from_s;
  const float cosine = (c - sin_from_c) + (s - sin_from_s);
  return {from_bits(bits(sine) ^ sin_sign), from_bits(bits(cosine) ^ cos_sign)};
}

// normal_fill_16: Box-Muller over the 8 pairs (data[j], data[j + 8]) of 16 uniforms in [0, 1).
void box_muller_16(float* data) {
  const float two_pi = narrow(2.0 * std::numbers::pi);
  for (int j = 0; j < 8; ++j) {
    const float radius = std::sqrt(-2.0f * cephes_log(1.0f - data[j]));  // 1 - u is in (0, 1]
    const SinCos sc = cephes_sincos(two_pi * data[j + 8]);
    // torch finishes with fma(n, std = 1, mean = 0): the value itself, with -0 made +0.
    data[j] = radius * sc.cos + 0.0f;
    data[j + 8] = radius * sc.sin + 0.0f;
  }
}

}  // namespace

TorchGenerator::TorchGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed)) {}

// uniform_real_distribution<float>(0, 1): the low 24 bits of one 32-bit draw.
float TorchGenerator::uniform_float() {
  return static_cast<float>(engine_() & 0xFFFFFFu) * narrow(1.0 / (1u << 24));
}

// uniform_real_distribution<double>(0, 1): the low 53 bits of two draws, the first one high.
double TorchGenerator::uniform_double() {
  const uint64_t high = engine_();
  const uint64_t low = engine_();
  return static_cast<double>(((high << 32) | low) & ((uint64_t{1} << 53) - 1)) * (1.0 / (uint64_t{1} << 53));
}

// normal_distribution<double>: libm Box-Muller in double, the sine half kept for the next call.
double TorchGenerator::normal_double() {
  if (next_normal_) {
    const double cached = *next_normal_;
    next_normal_.reset();
    return cached;
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double radius = std::sqrt(-2.0 * std::log1p(-u2));
  const double theta = 2.0 * std::numbers::pi * u1;
  next_normal_ = radius * std::sin(theta);
  return radius * std::cos(theta);
}

void TorchGenerator::randn(std::span<float> out) {
  const size_t n = out.size();
  if (n < 16) {
    // torch's small-tensor path: one double normal per element (+ 0.0 is its "* std + mean").
    for (float& v : out) v = static_cast<float>(normal_double() + 0.0);
    return;
  }
  // normal_fill: all uniforms first, then Box-Muller 16 at a time; a ragged end is redrawn
  // as 16 fresh uniforms over the last 16 slots, overwriting values already transformed.
  for (float& v : out) v = uniform_float();
  for (size_t i = 0; i + 16 <= n; i += 16) box_muller_16(out.data() + i);
  if (n % 16 != 0) {
    float* tail = out.data() + n - 16;
    for (size_t i = 0; i < 16; ++i) tail[i] = uniform_float();
    box_muller_16(tail);
  }
}

std::vector<float> TorchGenerator::randn(size_t count) {
  std::vector<float> out(count);
  randn(std::span<float>(out));
  return out;
}

}  // namespace sana
