// A kernel that exists to prove the toolchain end to end: compile for the target
// architectures, launch, copy both ways, and compare with the host.
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/check.h"
#include "backend/cuda/device.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/stream.h"

namespace sana::cuda {

namespace {

__global__ void scale_add_kernel(const float* in, float* out, float scale, float shift, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = fmaf(in[i], scale, shift);
}

}  // namespace

SelfTestResult cuda_self_test(size_t elements) {
  check(elements > 0, "cuda_self_test: element count must be positive");
  const RuntimeInfo runtime = cuda_device_info();  // throws a clear error without a device

  constexpr float kScale = 1.5f;
  constexpr float kShift = -0.25f;
  std::vector<float> host(elements);
  for (size_t i = 0; i < elements; ++i) host[i] = static_cast<float>(i % 1000) * 0.01f - 3.0f;

  const auto start = std::chrono::steady_clock::now();
  SANA_CUDA_CHECK(cudaSetDevice(runtime.devices.front().index));
  Stream stream;
  DeviceBuffer<float> input(elements);
  DeviceBuffer<float> output(elements);
  input.upload(std::span<const float>(host), stream.get());
  constexpr unsigned kBlock = 256;
  const auto grid = static_cast<unsigned>((elements + kBlock - 1) / kBlock);
  scale_add_kernel<<<grid, kBlock, 0, stream.get()>>>(input.data(), output.data(), kScale, kShift, elements);
  SANA_CUDA_CHECK(cudaGetLastError());
  std::vector<float> result(elements);
  output.download(std::span<float>(result), stream.get());
  stream.synchronize();
  const auto stop = std::chrono::steady_clock::now();

  SelfTestResult out;
  out.device = runtime.devices.front().index;
  out.elements = elements;
  out.milliseconds = std::chrono::duration<double, std::milli>(stop - start).count();
  for (size_t i = 0; i < elements; ++i) {
    const float expected = std::fma(host[i], kScale, kShift);
    const float error = std::fabs(result[i] - expected);
    if (error > out.max_abs_error) out.max_abs_error = error;
    check(error == 0.0f, "CUDA self-test: element " + std::to_string(i) + " is " + std::to_string(result[i]) +
                             ", expected " + std::to_string(expected));
  }
  return out;
}

}  // namespace sana::cuda
