#pragma once
// An owned, non-blocking CUDA stream; work queued on it is ordered, independent of the
// legacy default stream that other libraries in the process may be using.
#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/check.h"

namespace sana::cuda {

class Stream {
 public:
  Stream() { SANA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);  // see DeviceBuffer::reset on ignoring the status
  }
  Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      if (stream_ != nullptr) cudaStreamDestroy(stream_);
      stream_ = std::exchange(other.stream_, nullptr);
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }
  void synchronize() const { SANA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace sana::cuda
