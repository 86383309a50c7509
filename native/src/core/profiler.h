#pragma once
// Split timer for one pass of a model: lap(name) charges the time since the previous lap to
// `name`; report() prints the totals, largest first. Enabled by SANA_PROFILE=1 (read once);
// when disabled, lap() is one branch. Times are wall-clock on the calling thread, so they
// are exact for synchronous backends (cpu) and need a synchronising backend otherwise.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace sana {

class LapProfiler {
 public:
  LapProfiler() : enabled_(env_enabled()), last_(Clock::now()) {}

  bool enabled() const { return enabled_; }

  void lap(const char* name) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    for (auto& [n, t] : totals_)
      if (n == name) {
        t += s;
        return;
      }
    totals_.emplace_back(name, s);
  }

  void report(const char* title) const {
    if (!enabled_) return;
    double total = 0;
    for (const auto& [n, t] : totals_) total += t;
    auto sorted = totals_;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::fprintf(stderr, "[sana profile] %s: %.3f s\n", title, total);
    for (const auto& [n, t] : sorted)
      std::fprintf(stderr, "[sana profile]   %-24s %8.2f ms %5.1f%%\n", n.c_str(), t * 1e3, 100.0 * t / total);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static bool env_enabled() {
    static const bool on = [] {
      const char* v = std::getenv("SANA_PROFILE");
      return v != nullptr && *v != '\0' && std::string(v) != "0";
    }();
    return on;
  }
  bool enabled_;
  Clock::time_point last_;
  std::vector<std::pair<std::string, double>> totals_;
};

}  // namespace sana
