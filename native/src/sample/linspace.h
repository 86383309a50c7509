#pragma once
// The two linspace implementations the reference schedules are built with, reproduced
// element for element (they round differently, and the golden timesteps are exact).
#include <cstdint>
#include <vector>

namespace sana::sample {

// numpy.linspace(start, stop, num) in float64: start + i * step, the last value = stop.
std::vector<double> numpy_linspace(double start, double stop, int64_t num);

// torch.linspace(start, end, steps) in float32 on the CPU: the first half counts up from
// start, the second half down from end.
std::vector<float> torch_linspace_f32(double start, double end, int64_t steps);

}  // namespace sana::sample
