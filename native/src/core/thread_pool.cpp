#include "sana/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "sana/error.h"

namespace sana {

namespace {

// Set while a thread runs loop bodies: a nested parallel_for then runs inline instead of
// waiting for workers that are all busy with the outer loop.
thread_local bool t_inside_loop = false;

struct InsideLoop {
  bool saved;
  InsideLoop() : saved(t_inside_loop) { t_inside_loop = true; }
  ~InsideLoop() { t_inside_loop = saved; }
};

}  // namespace

size_t default_thread_count() {
  if (const char* env = std::getenv("SANA_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    check(end != env && *end == '\0' && n >= 1 && n <= 1024,
          std::string("SANA_NUM_THREADS must be an integer in [1, 1024], got \"") + env + "\"");
    return static_cast<size_t>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = default_thread_count();
  workers_.reserve(threads - 1);
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

size_t ThreadPool::available() const { return t_inside_loop ? 1 : size(); }

ThreadPool& ThreadPool::global() {
  static ThreadPool pool;
  return pool;
}

void ThreadPool::run_chunks(Job& job) {
  InsideLoop guard;
  const int64_t chunks = (job.end - job.begin + job.chunk - 1) / job.chunk;
  for (;;) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= chunks) break;
    const int64_t lo = job.begin + c * job.chunk;
    const int64_t hi = std::min(job.end, lo + job.chunk);
    try {
      (*job.body)(lo, hi);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    run_chunks(job);
    {
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t begin, int64_t end, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& body) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t threads = static_cast<int64_t>(size());
  if (n <= grain || threads == 1 || t_inside_loop) {
    body(begin, end);
    return;
  }
  std::unique_lock submit(submit_, std::try_to_lock);
  if (!submit.owns_lock()) {  // another thread is running a loop: do this one inline
    body(begin, end);
    return;
  }
  // Several chunks per thread balance uneven bodies; never below the caller's grain.
  const int64_t chunk = std::max(grain, (n + threads * 4 - 1) / (threads * 4));
  Job job{&body, begin, end, chunk};
  {
    std::lock_guard lock(mutex_);
    job_ = job;
    next_chunk_.store(0, std::memory_order_relaxed);
    busy_ = workers_.size();
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_chunks(job);
  std::exception_ptr error;
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::run_parts(size_t parts, const std::function<void(size_t, size_t)>& body) {
  parallel_for(0, static_cast<int64_t>(parts), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) body(static_cast<size_t>(p), parts);
  });
}

}  // namespace sana
