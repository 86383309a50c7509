// The engine's seeded noise as JS sees it, so tests and tools can check it against torch:
//   torchRandn(seed, counts) -> Float32Array[]
// one torch.randn(count_i) per entry, in order, from one torch.Generator("cpu").manual_seed(seed).
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "node/bindings.h"
#include "node/napi_util.h"
#include "sana/torch_generator.h"

namespace sana::node {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1: larger seeds come as BigInt

uint64_t seed_arg(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() >= 1 && info[0].IsBigInt()) {
    bool lossless = false;
    const uint64_t seed = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(env, "torchRandn: seed must be a BigInt in [0, 2^64)");
    return seed;
  }
  const double seed = number_arg(info, 0, "torchRandn");
  if (seed < 0 || seed > kMaxSafeInteger || std::trunc(seed) != seed)
    throw Napi::RangeError::New(env, "torchRandn: seed must be an integer in [0, 2^53) or a BigInt, got " +
                                         std::to_string(seed));
  return static_cast<uint64_t>(seed);
}

size_t count_at(Napi::Env env, const Napi::Array& counts, uint32_t index) {
  const Napi::Value value = counts.Get(index);
  const double count = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  // A generous cap that still fits a Float32Array: the largest latents are 4K (32 x 128 x 128 x batch).
  if (count < 0 || count > 1e9 || std::trunc(count) != count)
    throw Napi::RangeError::New(env, "torchRandn: counts[" + std::to_string(index) +
                                         "] must be an integer in [0, 1e9]");
  return static_cast<size_t>(count);
}

}  // namespace

void register_noise(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "torchRandn", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const Napi::Env e = info.Env();
    const uint64_t seed = seed_arg(info);
    if (info.Length() < 2 || !info[1].IsArray())
      throw Napi::TypeError::New(e, "torchRandn: argument 2 must be an array of element counts");
    const Napi::Array counts = info[1].As<Napi::Array>();
    TorchGenerator generator(seed);
    Napi::Array out = Napi::Array::New(e, counts.Length());
    for (uint32_t i = 0; i < counts.Length(); ++i) {
      Napi::Float32Array draw = Napi::Float32Array::New(e, count_at(e, counts, i));
      generator.randn(std::span<float>(draw.Data(), draw.ElementLength()));
      out.Set(i, draw);
    }
    return out;
  });
}

}  // namespace sana::node
