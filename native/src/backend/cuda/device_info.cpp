#include <cuda_runtime.h>

#include <string>

#include "backend/cuda/check.h"
#include "backend/cuda/device.h"

namespace sana::cuda {

RuntimeInfo cuda_device_info() {
  RuntimeInfo info;
  SANA_CUDA_CHECK(cudaRuntimeGetVersion(&info.runtime_version));
  // Not checked: with no driver installed this reports 0, which is the answer we want.
  cudaDriverGetVersion(&info.driver_version);

  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    // The runtime latches this error; clear it so a later call sees a fresh state.
    cudaGetLastError();
    const std::string reason = status != cudaSuccess
                                   ? std::string(cudaGetErrorString(status)) + " (" + cudaGetErrorName(status) + ")"
                                   : "the driver reports 0 devices";
    fail("no CUDA device available: " + reason +
         (info.driver_version == 0 ? "; no NVIDIA driver is loaded on this host" : "") +
         " (CUDA runtime " + std::to_string(info.runtime_version / 1000) + "." +
         std::to_string(info.runtime_version % 1000 / 10) + ")");
  }

  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    SANA_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    DeviceInfo device;
    device.index = i;
    device.name = prop.name;
    device.compute_major = prop.major;
    device.compute_minor = prop.minor;
    device.multiprocessors = prop.multiProcessorCount;
    device.total_memory = prop.totalGlobalMem;
    SANA_CUDA_CHECK(cudaSetDevice(i));
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    SANA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    device.free_memory = free_bytes;
    info.devices.push_back(std::move(device));
  }
  return info;
}

}  // namespace sana::cuda
