#pragma once
// Memory that hot loops use without calling the allocator.
//
// AlignedFloats: an owned, 64-byte aligned, uninitialised float buffer (SIMD loads and
// cache lines line up; uninitialised because every user overwrites it).
//
// Arena: the workspace of one forward pass. Spans are bump-allocated and all released
// together by reset(). The first pass at a new shape grows the arena block by block;
// reset() then merges the blocks into one of the high-water size, so every later pass
// at the same (or a smaller) shape runs without a single allocation.
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

namespace sana {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(size_t n);

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  // Grows (discarding the contents) when n exceeds the current size.
  void ensure(size_t n);

 private:
  std::unique_ptr<float, FreeDeleter> data_;
  size_t size_ = 0;
};

class Arena {
 public:
  static constexpr size_t kAlign = 64;

  explicit Arena(size_t initial_floats = 0);

  // A span of n floats, 64-byte aligned, valid until reset(). Contents are undefined.
  float* alloc(size_t n);
  // Releases every span; keeps (and, after growth, consolidates) the memory.
  void reset();

  size_t capacity_floats() const;
  size_t used_floats() const { return used_total_; }
  size_t high_water_floats() const { return high_water_; }
  // How many times the arena asked the system for memory since construction.
  size_t system_allocations() const { return system_allocations_; }

 private:
  struct Block {
    AlignedFloats memory;
    size_t used = 0;
  };
  std::vector<Block> blocks_;
  size_t current_ = 0;
  size_t used_total_ = 0;
  size_t high_water_ = 0;
  size_t system_allocations_ = 0;
};

}  // namespace sana
