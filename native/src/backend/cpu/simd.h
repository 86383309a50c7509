#pragma once
// One float vector type for the CPU kernels, via GCC/Clang vector extensions: the compiler
// lowers it to the widest registers -march allows (AVX-512, AVX2, NEON) without intrinsics.
#include <cstdint>
#include <cstring>

namespace sana::simd {

#if defined(__AVX512F__)
constexpr int kWidth = 16;
#else
constexpr int kWidth = 8;
#endif

typedef float Vec __attribute__((vector_size(kWidth * sizeof(float))));
typedef int32_t IVec __attribute__((vector_size(kWidth * sizeof(int32_t))));

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof(v)); }
inline Vec broadcast(float x) { return Vec{} + x; }
inline Vec max(Vec a, Vec b) { return a > b ? a : b; }
inline Vec min(Vec a, Vec b) { return a < b ? a : b; }

inline float hsum(Vec v) {
  float s = 0.0f;
  for (int i = 0; i < kWidth; ++i) s += v[i];
  return s;
}
inline float hmax(Vec v) {
  float m = v[0];
  for (int i = 1; i < kWidth; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// exp(x) to about 2 ulp (Cephes' expf: x = n ln2 + r, degree-6 polynomial on |r| <= ln2/2).
// Below -87.3 the result is exactly 0, as torch gives for masked softmax logits (x - max
// near -10000): a clamped 1e-38 there would turn into denormals in P V, which Intel cores
// process ~100x slower (seen: cross-attention 60% of a step on a Xeon). Above 88.3 it
// saturates at exp(88.3) instead of inf; sigmoid/softmax callers never need inf.
inline Vec exp(Vec x) {
  const auto underflow = x < broadcast(-87.3f);
  x = min(max(x, broadcast(-87.3f)), broadcast(88.3f));
  // Round x * log2(e) to the nearest integer with the 1.5 * 2^23 trick (|x log2 e| < 2^22).
  const Vec magic = broadcast(12582912.0f);
  const Vec n = (x * 1.44269504088896341f + magic) - magic;
  Vec r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  Vec y = broadcast(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  const IVec bits = (__builtin_convertvector(n, IVec) + 127) << 23;
  Vec scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return underflow ? Vec{} : y * scale;
}

// x * sigmoid(x), as torch's SiLU.
inline Vec silu(Vec x) { return x / (exp(-x) + 1.0f); }

}  // namespace sana::simd
