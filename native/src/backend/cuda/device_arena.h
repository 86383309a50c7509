#pragma once
// The CUDA counterpart of core/arena.h: the per-pass workspace in device memory. The first
// pass at a shape grows it block by block (cudaMalloc); reset() merges the blocks into one
// of the high-water size, so the step loop of a denoising run allocates nothing.
#include <cstddef>
#include <vector>

#include "backend/cuda/device_buffer.h"

namespace sana::cuda {

class DeviceArena {
 public:
  // A span of n floats, 256-byte aligned (what cuBLASLt's fastest kernels ask for).
  float* alloc(size_t n);
  void reset();

  size_t capacity_floats() const;
  size_t system_allocations() const { return system_allocations_; }

 private:
  static constexpr size_t kAlignFloats = 64;
  struct Block {
    DeviceBuffer<float> memory;
    size_t used = 0;
  };
  std::vector<Block> blocks_;
  size_t current_ = 0;
  size_t used_total_ = 0;
  size_t high_water_ = 0;
  size_t system_allocations_ = 0;
};

}  // namespace sana::cuda
