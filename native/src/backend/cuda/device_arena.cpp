#include "backend/cuda/device_arena.h"

#include <algorithm>

namespace sana::cuda {

namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

float* DeviceArena::alloc(size_t n) {
  const size_t need = round_up(std::max<size_t>(n, 1), kAlignFloats);
  while (current_ < blocks_.size() && blocks_[current_].used + need > blocks_[current_].memory.size()) ++current_;
  if (current_ == blocks_.size()) {
    // Grow geometrically so a first pass makes few cudaMalloc calls.
    const size_t last = blocks_.empty() ? 0 : blocks_.back().memory.size();
    blocks_.push_back(Block{DeviceBuffer<float>(std::max(need, last)), 0});
    ++system_allocations_;
  }
  Block& b = blocks_[current_];
  float* p = b.memory.data() + b.used;
  b.used += need;
  used_total_ += need;
  high_water_ = std::max(high_water_, used_total_);
  return p;
}

void DeviceArena::reset() {
  if (blocks_.size() > 1) {
    // The device is idle with respect to this arena only once queued work finished: the
    // caller (CudaBackend::reset_scratch) synchronises its stream before this.
    blocks_.clear();
    blocks_.push_back(Block{DeviceBuffer<float>(round_up(high_water_, kAlignFloats)), 0});
    ++system_allocations_;
  }
  for (Block& b : blocks_) b.used = 0;
  current_ = 0;
  used_total_ = 0;
}

size_t DeviceArena::capacity_floats() const {
  size_t total = 0;
  for (const Block& b : blocks_) total += b.memory.size();
  return total;
}

}  // namespace sana::cuda
