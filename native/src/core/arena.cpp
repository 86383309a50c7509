#include "core/arena.h"

#include <algorithm>
#include <new>
#include <string>

#include "sana/error.h"

namespace sana {

namespace {

constexpr size_t kAlignFloats = Arena::kAlign / sizeof(float);

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

AlignedFloats::AlignedFloats(size_t n) { ensure(n); }

void AlignedFloats::ensure(size_t n) {
  if (n <= size_) return;
  const size_t bytes = round_up(std::max<size_t>(n, 1) * sizeof(float), Arena::kAlign);
  float* p = static_cast<float*>(std::aligned_alloc(Arena::kAlign, bytes));
  if (!p) throw Error("out of memory allocating " + std::to_string(bytes >> 20) + " MiB of workspace");
  data_.reset(p);
  size_ = n;
}

Arena::Arena(size_t initial_floats) {
  if (initial_floats > 0) {
    blocks_.push_back(Block{AlignedFloats(round_up(initial_floats, kAlignFloats)), 0});
    ++system_allocations_;
  }
}

float* Arena::alloc(size_t n) {
  n = round_up(std::max<size_t>(n, 1), kAlignFloats);
  while (current_ < blocks_.size()) {
    Block& b = blocks_[current_];
    if (b.used + n <= b.memory.size()) {
      float* p = b.memory.data() + b.used;
      b.used += n;
      used_total_ += n;
      high_water_ = std::max(high_water_, used_total_);
      return p;
    }
    ++current_;
  }
  // First pass at a larger shape: grow geometrically so a pass needs few blocks.
  const size_t last = blocks_.empty() ? 0 : blocks_.back().memory.size();
  blocks_.push_back(Block{AlignedFloats(std::max(n, last)), 0});
  ++system_allocations_;
  current_ = blocks_.size() - 1;
  return alloc(n);
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    // Replace the chain by one block that holds the whole high-water mark.
    const size_t total = high_water_;
    blocks_.clear();
    blocks_.push_back(Block{AlignedFloats(total), 0});
    ++system_allocations_;
  }
  for (auto& b : blocks_) b.used = 0;
  current_ = 0;
  used_total_ = 0;
}

size_t Arena::capacity_floats() const {
  size_t total = 0;
  for (const auto& b : blocks_) total += b.memory.size();
  return total;
}

}  // namespace sana
