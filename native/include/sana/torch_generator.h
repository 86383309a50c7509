#pragma once
// PyTorch's CPU random generator, so that a seed gives the same image here as in diffusers
// with generator=torch.Generator("cpu").manual_seed(seed): the same mt19937 stream and the
// same float arithmetic as torch.randn(..., dtype=torch.float32) in the x86 (AVX2 / AVX-512)
// builds of torch. The values are fixed by the seed alone, on every machine and thread count.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace sana {

class TorchGenerator {
 public:
  // manual_seed(seed). torch seeds its mt19937 with the low 32 bits only, so seeds that differ
  // above bit 31 draw the same values, exactly as they do in torch.
  explicit TorchGenerator(uint64_t seed);

  // One torch.randn(shape, generator=g, dtype=torch.float32) call on a tensor of out.size()
  // elements. Successive calls continue the stream as successive torch.randn calls do (the
  // layout of the shape does not matter, only its element count).
  void randn(std::span<float> out);
  std::vector<float> randn(size_t count);

 private:
  float uniform_float();
  double uniform_double();
  double normal_double();

  std::mt19937 engine_;
  // torch's Box-Muller for small tensors makes two values per pair of uniforms and keeps the
  // second one in the generator for the next call, across randn calls.
  std::optional<double> next_normal_;
};

}  // namespace sana
