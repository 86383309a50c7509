#pragma once
// A fixed pool of std::threads that runs data-parallel loops over index ranges.
// The calling thread takes part in every loop, so a pool of N threads keeps N cores
// busy with N-1 workers. Loops are not nested: a parallel_for issued from inside a
// running loop (or while another thread owns the pool) runs inline on its caller,
// which keeps the pool deadlock-free when kernels call each other.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sana {

class ThreadPool {
 public:
  // `threads` counts the caller too; 0 means every hardware thread (SANA_NUM_THREADS overrides).
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }
  // Threads a parallel_for issued from this thread would get: size(), or 1 inside a running
  // loop (nested loops run inline). Kernels size their work split by it.
  size_t available() const;

  // Calls body(lo, hi) over disjoint sub-ranges covering [begin, end), each at least
  // `grain` long (except the last). Rethrows the first exception a body threw.
  void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

  // Calls body(part, parts) once for each of `parts` (<= size()) slices, one per thread:
  // for kernels that split work themselves and want a stable thread index.
  void run_parts(size_t parts, const std::function<void(size_t, size_t)>& body);

  // The process-wide pool every CPU kernel uses.
  static ThreadPool& global();

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    int64_t begin = 0, end = 0, chunk = 1;
  };

  void worker_loop();
  void run_chunks(Job& job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::mutex submit_;  // one loop at a time; others run inline
  Job job_;
  uint64_t generation_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  size_t busy_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// Number of threads the default pool uses: SANA_NUM_THREADS if set, else hardware threads.
size_t default_thread_count();

}  // namespace sana
