#pragma once
// Shapes and the two tensor kinds the engine uses: TensorView (a typed, non-owning window
// onto bytes, e.g. a memory-mapped safetensors entry) and Tensor (owned, contiguous float32).
#include <cstdint>
#include <string>
#include <vector>

#include "sana/dtype.h"

namespace sana {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 8, 6, 10]"

struct TensorView {
  DType dtype = DType::F32;
  Shape shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const { return sana::numel(shape); }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape);  // zero-filled
  Tensor(Shape shape, std::vector<float> values);

  static Tensor from_view(const TensorView& view);  // widens to float32

  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t axis) const { return shape_.at(axis); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return static_cast<int64_t>(values_.size()); }
  bool empty() const { return values_.empty(); }

  // Same elements, new shape; throws if the element count differs.
  void reshape(Shape shape);

 private:
  Shape shape_;
  std::vector<float> values_;
};

}  // namespace sana
