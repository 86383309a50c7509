#include "backend/cuda/weights.h"

#include <cuda_runtime.h>

#include <map>
#include <mutex>

#include "backend/cuda/check.h"
#include "sana/error.h"

namespace sana::cuda {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<const float*, size_t> bytes;  // start -> allocation size
};

Registry& registry() {
  static Registry r;
  return r;
}

void release_bf16_weight(float* p) {
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    r.bytes.erase(p);
  }
  cudaFree(p);  // see DeviceBuffer::reset on ignoring the status
}

}  // namespace

Buffer alloc_bf16_weight(size_t n) {
  void* raw = nullptr;
  const size_t bytes = std::max<size_t>(n, 1) * sizeof(__nv_bfloat16);
  SANA_CUDA_CHECK(cudaMalloc(&raw, bytes));
  auto* p = static_cast<float*>(raw);
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.bytes[p] = bytes;
  return Buffer(p, n, &release_bf16_weight);
}

const __nv_bfloat16* find_bf16_weight(const float* w) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.bytes.upper_bound(w);
  if (it == r.bytes.begin()) return nullptr;
  --it;
  const auto offset = reinterpret_cast<const char*>(w) - reinterpret_cast<const char*>(it->first);
  if (offset == 0) return reinterpret_cast<const __nv_bfloat16*>(w);
  check(offset < 0 || static_cast<size_t>(offset) >= it->second,
        "cuda backend: a GEMM weight pointer lies inside a bf16 weight; pass the weight buffer itself");
  return nullptr;
}

}  // namespace sana::cuda
