#pragma once
// Every CUDA runtime call goes through SANA_CUDA_CHECK so a failure becomes a sana::Error
// that names the call, the CUDA error and the source line, instead of a silent bad value.
#include <cuda_runtime.h>

#include <string>

#include "sana/error.h"

namespace sana::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  fail(std::string("CUDA call ") + call + " failed: " + cudaGetErrorString(status) + " (" +
       cudaGetErrorName(status) + ") at " + file + ":" + std::to_string(line));
}

}  // namespace sana::cuda

#define SANA_CUDA_CHECK(call)                                                      \
  do {                                                                             \
    const cudaError_t sana_cuda_status_ = (call);                                  \
    if (sana_cuda_status_ != cudaSuccess)                                          \
      ::sana::cuda::throw_cuda_error(sana_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)
