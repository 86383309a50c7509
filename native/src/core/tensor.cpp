#include "sana/tensor.h"

#include "sana/error.h"

namespace sana {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)), values_(static_cast<size_t>(sana::numel(shape_)), 0.0f) {}

Tensor::Tensor(Shape shape, std::vector<float> values) : shape_(std::move(shape)), values_(std::move(values)) {
  check(static_cast<int64_t>(values_.size()) == sana::numel(shape_),
        "tensor of shape " + shape_str(shape_) + " given " + std::to_string(values_.size()) + " values");
}

Tensor Tensor::from_view(const TensorView& view) {
  Tensor t(view.shape);
  convert_to_f32(view.dtype, view.data, t.data(), static_cast<size_t>(t.numel()));
  return t;
}

void Tensor::reshape(Shape shape) {
  check(sana::numel(shape) == numel(),
        "cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  shape_ = std::move(shape);
}

}  // namespace sana
