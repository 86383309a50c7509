#pragma once
// What the rest of the engine (and the N-API layer) may ask of the CUDA backend. Plain C++
// on purpose: including this header does not pull in the CUDA runtime headers.
#include <cstddef>
#include <string>
#include <vector>

namespace sana::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  size_t total_memory = 0;
  size_t free_memory = 0;
};

struct RuntimeInfo {
  int runtime_version = 0;  // e.g. 13000 for CUDA 13.0
  int driver_version = 0;   // 0 when no driver is loaded
  std::vector<DeviceInfo> devices;
};

// Throws sana::Error saying that no CUDA device or driver is available when there is none.
RuntimeInfo cuda_device_info();

struct SelfTestResult {
  int device = 0;
  size_t elements = 0;
  float max_abs_error = 0.0f;
  double milliseconds = 0.0;
};

// Uploads `elements` floats, scales them on the device, downloads and compares with the
// host result; throws if any element differs or a CUDA call fails.
SelfTestResult cuda_self_test(size_t elements);

}  // namespace sana::cuda
