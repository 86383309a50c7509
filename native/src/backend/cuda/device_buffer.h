#pragma once
// Owned device memory: cudaMalloc in the constructor, cudaFree in the destructor, move-only,
// so an exception between allocation and use cannot leak GPU memory.
#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <utility>

#include "backend/cuda/check.h"

namespace sana::cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count_ > 0) {
      void* raw = nullptr;
      SANA_CUDA_CHECK(cudaMalloc(&raw, count_ * sizeof(T)));
      data_ = static_cast<T*>(raw);
    }
  }
  ~DeviceBuffer() { reset(); }

  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  void upload(std::span<const T> host, cudaStream_t stream) {
    check(host.size() == count_, "DeviceBuffer::upload: " + std::to_string(host.size()) +
                                     " host elements for a buffer of " + std::to_string(count_));
    SANA_CUDA_CHECK(cudaMemcpyAsync(data_, host.data(), bytes(), cudaMemcpyHostToDevice, stream));
  }
  void download(std::span<T> host, cudaStream_t stream) const {
    check(host.size() == count_, "DeviceBuffer::download: " + std::to_string(host.size()) +
                                     " host elements for a buffer of " + std::to_string(count_));
    SANA_CUDA_CHECK(cudaMemcpyAsync(host.data(), data_, bytes(), cudaMemcpyDeviceToHost, stream));
  }

 private:
  void reset() noexcept {
    // cudaFree's status is ignored on purpose: a destructor must not throw, and a failing
    // free means the context is already gone, taking the allocation with it.
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    count_ = 0;
  }

  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace sana::cuda
