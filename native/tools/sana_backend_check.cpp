// Compares every op of one Backend with another (by default the CUDA backend with the CPU
// reference) in one run: each check uploads the same deterministic inputs to both, runs the
// op on A, then on B, downloads what the op may write and prints the relative L2 error of B
// against A, the largest absolute difference and the tolerance; a GPU is only lent for
// minutes, so one run must say which op, with which flags, disagrees and by how much.
//
//   sana_backend_check [--a cpu] [--b cuda] [--only SUBSTRING] [--list]
//
// Tolerances, on the relative L2 error and on the largest absolute error relative to the
// largest |A| (which catches a few wrong elements that vanish in the L2 norm of a big
// tensor): 0 / 0 for pure data movement (memory, patchify), 1e-5 / 1e-4 for float32 ops,
// and for the GEMM ops (gemm, linear, conv2d) 2e-2 / 5e-2 when either backend is "cuda"
// (bf16 tensor-core weights) or 1e-4 / 1e-3 with SANA_CUDA_GEMM=fp32 (float32 GEMMs that
// sum in another order). Besides the values an op writes, every check also requires the
// rest of its output buffer (row padding, other column blocks) to be left exactly as uploaded.
//
// A check that throws sana::Error is reported as FAIL with the message and the run goes on.
// A CUDA fault (e.g. an illegal address) poisons the context, so the checks after it fail
// too: the summary lists the failures, first one first; rerun one alone with --only.
// Exit status: 0 all ok, 1 any FAIL, 2 bad arguments or an error outside the checks.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "sana/error.h"
#include "sana/ops.h"

using namespace sana;

namespace {

using Conv2dShape = Backend::Conv2dShape;
using CausalShape = Backend::CausalAttentionShape;

constexpr int kA = 0, kB = 1;  // sides: the reference and the backend under test
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr Activation kActivations[] = {Activation::None, Activation::SiLU, Activation::GeluTanh, Activation::ReLU};

template <typename... Args>
std::string format(const char* f, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

const char* act_name(Activation act) {
  switch (act) {
    case Activation::None:
      return "none";
    case Activation::SiLU:
      return "silu";
    case Activation::GeluTanh:
      return "gelu_tanh";
    case Activation::ReLU:
      return "relu";
  }
  return "?";
}

std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A stable seed per check name, so --only reproduces the inputs of the full run.
uint32_t name_seed(const std::string& name) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return h;
}

// ---- tensors on both backends --------------------------------------------------------------

// One tensor held by both backends with the same contents: [kA] on A, [kB] on B.
class Twin {
 public:
  Twin(Buffer a, Buffer b) : buf_{std::move(a), std::move(b)} {}
  float* operator[](int side) { return buf_[side].data(); }
  size_t size() const { return buf_[kA].size(); }

 private:
  std::array<Buffer, 2> buf_;
};

// Where an op writes inside a tensor: `rows` rows of `cols` floats, `stride` apart, from
// `offset`. Everything else in the tensor must come back exactly as it was uploaded.
struct Region {
  std::array<float*, 2> base{};
  size_t size = 0;
  int64_t offset = 0, rows = 1, cols = 0, stride = 0;
};

Region region(Twin& t, int64_t offset, int64_t rows, int64_t cols, int64_t stride) {
  return {{t[kA], t[kB]}, t.size(), offset, rows, cols, stride};
}
Region whole(Twin& t) { return region(t, 0, 1, static_cast<int64_t>(t.size()), 0); }

// What one check found. `error` (a thrown message or a failed property) fails the check;
// `note` is printed after an ok.
struct Outcome {
  double rel = 0.0, max_abs = 0.0, max_rel = 0.0;  // max_rel: max_abs / max |A|
  size_t nonfinite = 0, outside = 0;
  double ms = -1.0;  // one warm call on B
  std::string error, note;
};

// Runs an op on side `side` (the backend is passed so one lambda serves both).
using Op = std::function<void(Backend& be, int side)>;

class Duo {
 public:
  Duo(Backend& a, Backend& b, uint32_t seed) : be_{&a, &b}, seed_(seed) {}
  Backend& operator[](int side) const { return *be_[side]; }

  std::vector<float> host_random(size_t n, float lo = -1.0f, float hi = 1.0f) {
    return random_vector(n, seed_++, lo, hi);
  }
  Twin put(const std::vector<float>& host) {
    Buffer a = be_[kA]->alloc(host.size()), b = be_[kB]->alloc(host.size());
    be_[kA]->upload(a.data(), host.data(), host.size());
    be_[kB]->upload(b.data(), host.data(), host.size());
    return Twin(std::move(a), std::move(b));
  }
  // In each backend's GEMM storage format (bf16 on CUDA): only linear() and conv2d() may read it.
  Twin put_weight(const std::vector<float>& host) {
    return Twin(be_[kA]->upload_weight(host.data(), host.size()), be_[kB]->upload_weight(host.data(), host.size()));
  }
  Twin random(size_t n, float lo = -1.0f, float hi = 1.0f) { return put(host_random(n, lo, hi)); }
  // A GEMM weight with entries of variance 1/fan_in, so outputs stay O(1) whatever the depth
  // of the sum and the activations see their curved range.
  std::vector<float> host_weight(size_t n, int64_t fan_in) {
    const float r = std::sqrt(3.0f / static_cast<float>(fan_in));
    return host_random(n, -r, r);
  }

  // Runs op on A, then on B, downloads and compares the outputs, then times a second call
  // on B (the outputs are already downloaded, so an in-place op may change them again).
  Outcome compare(const Op& op, std::initializer_list<Region> outputs) {
    op(*be_[kA], kA);
    op(*be_[kB], kB);
    Outcome o;
    for (const Region& r : outputs) compare_region(r, o);
    if (outputs.size() > 0) o.ms = time_call(op, outputs.begin()->base[kB]);
    return o;
  }

 private:
  std::vector<float> download(const Region& r, int side) const {
    std::vector<float> host(r.size);
    be_[side]->download(host.data(), r.base[side], r.size);
    return host;
  }

  void compare_region(const Region& r, Outcome& o) const {
    std::vector<float> a = download(r, kA), b = download(r, kB);
    double err = 0.0, norm = 0.0, max_abs = 0.0, max_ref = 0.0;
    for (int64_t i = 0; i < r.rows; ++i)
      for (int64_t j = 0; j < r.cols; ++j) {
        const size_t at = static_cast<size_t>(r.offset + i * r.stride + j);
        const double d = static_cast<double>(b[at]) - a[at];
        if (!std::isfinite(a[at]) || !std::isfinite(b[at])) {
          ++o.nonfinite;
        } else {
          err += d * d;
          norm += static_cast<double>(a[at]) * a[at];
          max_abs = std::max(max_abs, std::fabs(d));
          max_ref = std::max(max_ref, std::fabs(static_cast<double>(a[at])));
        }
        a[at] = b[at] = 0.0f;  // leaves only the untouched part for the bitwise test below
      }
    o.rel = std::max(o.rel, norm > 0.0 ? std::sqrt(err / norm) : std::sqrt(err));
    o.max_abs = std::max(o.max_abs, max_abs);
    o.max_rel = std::max(o.max_rel, max_ref > 0.0 ? max_abs / max_ref : max_abs);
    for (size_t i = 0; i < a.size(); ++i) o.outside += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  }

  double time_call(const Op& op, const float* probe) const {
    Backend& be = *be_[kB];
    float sink = 0.0f;
    be.download(&sink, probe, 1);  // a download waits for the work queued before it
    const auto start = std::chrono::steady_clock::now();
    op(be, kB);
    be.download(&sink, probe, 1);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }

  std::array<Backend*, 2> be_;
  uint32_t seed_;
};

// ---- the runner ----------------------------------------------------------------------------

enum class Tol { Exact, Fp32, Gemm };

struct Tolerance {
  double rel, max;  // on the relative L2 error and on max |B - A| / max |A|
};

struct Options {
  std::string a = "cpu", b = "cuda", only;
  bool list = false;
};

class Checker {
 public:
  // Backends are null with --list, where no check body runs.
  Checker(Backend* a, Backend* b, const Options& opt) : a_(a), b_(b), opt_(opt) {
    if (a_ && b_) gemm_tol_ = gemm_tolerance(a_->name() == "cuda" || b_->name() == "cuda");
  }
  Tolerance gemm_tol() const { return gemm_tol_; }

  void check(const std::string& name, Tol kind, const std::function<Outcome(Duo&)>& body) {
    if (!opt_.only.empty() && name.find(opt_.only) == std::string::npos) return;
    if (opt_.list) {
      std::printf("%s\n", name.c_str());
      return;
    }
    const Tolerance tol = kind == Tol::Exact ? Tolerance{0.0, 0.0} : kind == Tol::Fp32 ? kFp32 : gemm_tol_;
    Outcome o;
    try {
      Duo duo(*a_, *b_, name_seed(name));
      o = body(duo);
    } catch (const Error& e) {
      o.error = e.what();
    }
    print(name, tol, o);
  }

  int summary() const {
    if (opt_.list) return 0;
    const int failed = static_cast<int>(failures_.size());
    std::printf("\n%d check(s): %d ok, %d FAIL\n", ran_, ran_ - failed, failed);
    if (!worst_name_.empty())
      std::printf("closest to its tolerance: %s (error / tolerance %.3f)\n", worst_name_.c_str(), worst_ratio_);
    // Repeated here so a long log's failures are read in one place, the first one first.
    for (const std::string& name : failures_) std::printf("FAIL: %s\n", name.c_str());
    return failed == 0 ? 0 : 1;
  }

 private:
  static constexpr Tolerance kFp32{1e-5, 1e-4};

  // bf16 inputs round each product by up to 2^-8: ~3e-3 relative L2 on a long dot product.
  static Tolerance gemm_tolerance(bool cuda) {
    if (!cuda) return kFp32;
    const char* mode = std::getenv("SANA_CUDA_GEMM");
    return mode != nullptr && std::string_view(mode) == "fp32" ? Tolerance{1e-4, 1e-3} : Tolerance{2e-2, 5e-2};
  }

  void print(const std::string& name, Tolerance tol, const Outcome& o) {
    // Written as `rel <= tol` so that a NaN error fails.
    const bool ok = o.error.empty() && o.nonfinite == 0 && o.outside == 0 && o.rel <= tol.rel && o.max_rel <= tol.max;
    ++ran_;
    if (!ok) failures_.push_back(name);
    const double ratio = tol.rel > 0.0 ? std::max(o.rel / tol.rel, o.max_rel / tol.max) : 0.0;
    if (ok && ratio > worst_ratio_) {
      worst_ratio_ = ratio;
      worst_name_ = name;
    }
    std::printf("%-4s  %-100s", ok ? "ok" : "FAIL", name.c_str());
    if (!o.error.empty()) {
      std::printf("  error: %s\n", o.error.c_str());
      std::fflush(stdout);
      return;
    }
    std::printf("  rel %9.3e  max %9.3e (%9.3e of max|A|)  tol %.0e/%.0e", o.rel, o.max_abs, o.max_rel, tol.rel,
                tol.max);
    if (o.ms >= 0.0) std::printf("  %9.3f ms", o.ms);
    if (o.nonfinite) std::printf("  %zu non-finite value(s)", o.nonfinite);
    if (o.outside) std::printf("  %zu value(s) changed outside the output", o.outside);
    if (!o.note.empty()) std::printf("  (%s)", o.note.c_str());
    std::printf("\n");
    std::fflush(stdout);  // a crash in the next check must not eat this line
  }

  Backend* a_;
  Backend* b_;
  Options opt_;
  Tolerance gemm_tol_ = kFp32;
  int ran_ = 0;
  double worst_ratio_ = 0.0;
  std::string worst_name_;
  std::vector<std::string> failures_;
};

// ---- memory ---------------------------------------------------------------------------------

void memory_checks(Checker& c) {
  c.check("memory: upload / download round trip, 1000003 floats", Tol::Exact, [](Duo& d) {
    Twin t = d.random(1000003);
    return d.compare([](Backend&, int) {}, {whole(t)});
  });
  c.check("memory: copy 299987 floats, source +11, destination +5", Tol::Exact, [](Duo& d) {
    const int64_t n = 300007;
    Twin src = d.random(n), dst = d.random(n);
    return d.compare([&](Backend& be, int s) { be.copy(dst[s] + 5, src[s] + 11, n - 20); },
                     {region(dst, 5, 1, n - 20, 0)});
  });
  c.check("memory: scratch spans after reset_scratch (upload, copy, download)", Tol::Exact, [](Duo& d) {
    const size_t n = 200003, m = n + 100;
    const auto input = d.host_random(n), fill = d.host_random(m);
    Region out{{}, m, 50, 1, static_cast<int64_t>(n), 0};
    std::array<float*, 2> in{};
    for (int s : {kA, kB}) {
      d[s].reset_scratch();
      in[s] = d[s].scratch(n);
      out.base[s] = d[s].scratch(m);
      d[s].upload(in[s], input.data(), n);
      d[s].upload(out.base[s], fill.data(), m);
    }
    return d.compare([&](Backend& be, int s) { be.copy(out.base[s] + 50, in[s], n); }, {out});
  });
  c.check("memory: a repeated scratch pass at the same sizes allocates nothing", Tol::Exact, [](Duo& d) {
    const size_t sizes[] = {1000, 5, 123457, 64, 3000000, 3};
    Outcome o;
    for (int s : {kA, kB}) {
      Backend& be = d[s];
      const auto pass = [&] {
        be.reset_scratch();
        for (size_t n : sizes) be.scratch(n);
      };
      pass();  // the first pass may allocate and reset may merge its blocks: let it settle
      pass();
      const size_t settled = be.scratch_system_allocations();
      pass();
      if (be.scratch_system_allocations() != settled)
        o.error += std::string(be.name()) + " allocated again on a repeated pass; ";
      be.reset_scratch();
    }
    return o;
  });
}

// ---- dense algebra --------------------------------------------------------------------------

void gemm_checks(Checker& c) {
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape sh : {Shape{200, 136, 96}, Shape{129, 70, 300}})
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes})
        for (float beta : {0.5f, 0.0f}) {
          const std::string name = format(
              "gemm %lldx%lldx%lld ta=%c tb=%c ld padded alpha=1.5 beta=%.1f%s", (long long)sh.m,
              (long long)sh.n, (long long)sh.k, ta == Trans::Yes ? 'T' : 'N', tb == Trans::Yes ? 'T' : 'N', beta,
              beta == 0.0f ? " C=NaN" : "");
          c.check(name, Tol::Gemm, [=](Duo& d) {
            const int64_t m = sh.m, n = sh.n, k = sh.k;
            // Padded leading dimensions: kernels must honour strides, not assume dense rows.
            const int64_t lda = (ta == Trans::No ? k : m) + 3, ldb = (tb == Trans::No ? n : k) + 5, ldc = n + 7;
            Twin a = d.random(static_cast<size_t>((ta == Trans::No ? m : k) * lda));
            Twin b = d.random(static_cast<size_t>((tb == Trans::No ? k : n) * ldb));
            auto host_c = d.host_random(static_cast<size_t>(m * ldc));
            if (beta == 0.0f)
              for (int64_t i = 0; i < m; ++i) std::fill_n(host_c.begin() + i * ldc, n, kNaN);
            Twin cc = d.put(host_c);
            return d.compare(
                [&](Backend& be, int s) { be.gemm(ta, tb, m, n, k, 1.5f, a[s], lda, b[s], ldb, beta, cc[s], ldc); },
                {region(cc, 0, m, n, ldc)});
          });
        }
}

struct LinearCase {
  int64_t m, k, n;
  bool upload_weight, bias;
  Activation act;
  bool accumulate, strided, nan_y;
};

std::string linear_name(const LinearCase& t) {
  return format("linear %lldx%lld->%lld w=%s bias=%s act=%s acc=%d %s%s", (long long)t.m, (long long)t.k,
                (long long)t.n, t.upload_weight ? "upload_weight" : "alloc", t.bias ? "yes" : "null", act_name(t.act),
                t.accumulate ? 1 : 0, t.strided ? "x_stride=k+40@+8 y_stride=n+24@+16" : "strides=0",
                t.nan_y ? " y=NaN" : "");
}

Outcome run_linear(Duo& d, const LinearCase& t) {
  // Strided: x and y are column blocks of wider rows, as q | k | v of a fused projection.
  const int64_t xs = t.strided ? t.k + 40 : t.k, ys = t.strided ? t.n + 24 : t.n;
  const int64_t x_off = t.strided ? 8 : 0, y_off = t.strided ? 16 : 0;
  Twin x = d.random(static_cast<size_t>(t.m * xs));
  const auto host_w = d.host_weight(static_cast<size_t>(t.n * t.k), t.k);
  Twin w = t.upload_weight ? d.put_weight(host_w) : d.put(host_w);
  Twin bias = d.random(static_cast<size_t>(t.n));
  auto host_y = d.host_random(static_cast<size_t>(t.m * ys));
  if (t.nan_y)
    for (int64_t i = 0; i < t.m; ++i) std::fill_n(host_y.begin() + i * ys + y_off, t.n, kNaN);
  Twin y = d.put(host_y);
  return d.compare(
      [&](Backend& be, int s) {
        be.linear(x[s] + x_off, t.m, t.k, w[s], t.n, t.bias ? bias[s] : nullptr, t.act, y[s] + y_off, t.accumulate,
                  t.strided ? xs : 0, t.strided ? ys : 0);
      },
      {region(y, y_off, t.m, t.n, ys)});
}

void linear_checks(Checker& c) {
  for (bool uw : {false, true})
    for (Activation act : kActivations)
      for (bool bias : {false, true})
        for (bool acc : {false, true})
          for (bool strided : {false, true}) {
            const LinearCase t{257, 192, 320, uw, bias, act, acc, strided, false};
            c.check(linear_name(t), Tol::Gemm, [t](Duo& d) { return run_linear(d, t); });
          }
  std::vector<LinearCase> extra;
  for (bool uw : {false, true}) {
    extra.push_back({257, 192, 320, uw, true, Activation::None, false, true, true});
    extra.push_back({257, 192, 320, uw, true, Activation::SiLU, false, false, true});
    extra.push_back({77, 75, 45, uw, true, Activation::GeluTanh, false, false, false});  // odd sizes, unaligned rows
  }
  extra.push_back({2048, 1152, 1152, true, true, Activation::GeluTanh, false, false, false});  // grid limits
  for (const LinearCase& t : extra) c.check(linear_name(t), Tol::Gemm, [t](Duo& d) { return run_linear(d, t); });

  // backend.h says to pass an upload_weight buffer whole; this checks that a row offset into
  // one is either computed correctly or rejected with an Error, never silently misread. The
  // offset stays within the first half of the floats: a bf16 buffer holds only that many
  // bytes, and reading past it could fault the device and fail every later check.
  c.check("linear 64x192->128 w=upload_weight+64 rows (not in backend.h: Error ok)", Tol::Gemm, [](Duo& d) {
    const int64_t m = 64, k = 192, n = 128, rows = 320, first = 64;
    Twin x = d.random(static_cast<size_t>(m * k));
    Twin w = d.put_weight(d.host_weight(static_cast<size_t>(rows * k), k));
    Twin y = d.random(static_cast<size_t>(m * n));
    try {
      return d.compare(
          [&](Backend& be, int s) { be.linear(x[s], m, k, w[s] + first * k, n, nullptr, Activation::None, y[s]); },
          {whole(y)});
    } catch (const Error& e) {
      Outcome o;
      o.note = std::string("rejected: ") + e.what();
      return o;
    }
  });
}

// ---- elementwise and normalisation ------------------------------------------------------------

void rms_norm_checks(Checker& c) {
  const int64_t rows = 600, dim = 256;
  c.check("rms_norm 600x256 x_stride=768@+256 -> y_stride=320@+32 weight eps=1e-6", Tol::Fp32, [=](Duo& d) {
    Twin x = d.random(static_cast<size_t>(rows * 768), -2.0f, 3.0f), w = d.random(dim);
    Twin y = d.random(static_cast<size_t>(rows * 320));
    return d.compare(
        [&](Backend& be, int s) { be.rms_norm(x[s] + 256, rows, dim, 768, w[s], 1e-6f, y[s] + 32, 320); },
        {region(y, 32, rows, dim, 320)});
  });
  c.check("rms_norm 600x256 dense weight=null eps=1e-6", Tol::Fp32, [=](Duo& d) {
    Twin x = d.random(static_cast<size_t>(rows * dim)), y = d.random(static_cast<size_t>(rows * dim));
    return d.compare([&](Backend& be, int s) { be.rms_norm(x[s], rows, dim, dim, nullptr, 1e-6f, y[s], dim); },
                     {whole(y)});
  });
  // In place on the k block of a fused q | k | v row, as the model's q/k norms run.
  c.check("rms_norm 600x256 in place (x == y) stride=768@+256 weight eps=1e-6", Tol::Fp32, [=](Duo& d) {
    Twin qkv = d.random(static_cast<size_t>(rows * 768)), w = d.random(dim);
    return d.compare(
        [&](Backend& be, int s) { be.rms_norm(qkv[s] + 256, rows, dim, 768, w[s], 1e-6f, qkv[s] + 256, 768); },
        {region(qkv, 256, rows, dim, 768)});
  });
}

void elementwise_checks(Checker& c) {
  const int64_t B = 2, T = 300, D = 1152;
  for (int64_t t_rows : {6, 1}) {
    const int64_t rows = t_rows == 6 ? 6 : 2;
    c.check(format("add_table rows=%lld d=%lld t_rows=%lld batch=2", (long long)rows, (long long)D, (long long)t_rows),
            Tol::Fp32, [=](Duo& d) {
              Twin table = d.random(static_cast<size_t>(rows * D)), t = d.random(static_cast<size_t>(B * t_rows * D));
              Twin out = d.random(static_cast<size_t>(B * rows * D));
              return d.compare([&](Backend& be, int s) { be.add_table(table[s], rows, D, t[s], t_rows, B, out[s]); },
                               {whole(out)});
            });
  }
  c.check("add n=1048581", Tol::Fp32, [](Duo& d) {
    const int64_t n = 1048581;
    Twin x = d.random(n), y = d.random(n);
    return d.compare([&](Backend& be, int s) { be.add(x[s], y[s], n); }, {whole(x)});
  });
  c.check("add_bias 600x1152", Tol::Fp32, [](Duo& d) {
    const int64_t rows = 600, cols = 1152;
    Twin x = d.random(static_cast<size_t>(rows * cols)), bias = d.random(cols);
    return d.compare([&](Backend& be, int s) { be.add_bias(x[s], rows, cols, bias[s]); }, {whole(x)});
  });
  for (Activation act : kActivations)
    c.check(format("activate %s 300 rows x 1000 cols, stride 1152 @+64", act_name(act)), Tol::Fp32, [act](Duo& d) {
      const int64_t rows = 300, cols = 1000, stride = 1152, off = 64;
      Twin x = d.random(static_cast<size_t>(rows * stride), -6.0f, 6.0f);
      return d.compare([&](Backend& be, int s) { be.activate(act, x[s] + off, rows, cols, stride); },
                       {region(x, off, rows, cols, stride)});
    });
  c.check("layer_norm_modulate batch=2 tokens=300 d=1152 eps=1e-6 mod_stride=6d", Tol::Fp32, [=](Duo& d) {
    Twin x = d.random(static_cast<size_t>(B * T * D), -3.0f, 5.0f);  // a mean far from 0
    Twin mod = d.random(static_cast<size_t>(B * 6 * D)), y = d.random(static_cast<size_t>(B * T * D));
    return d.compare(
        [&](Backend& be, int s) { be.layer_norm_modulate(x[s], B, T, D, 1e-6f, mod[s], mod[s] + D, 6 * D, y[s]); },
        {whole(y)});
  });
  c.check("gated_add batch=2 tokens=300 d=1152 gate row 2 of mod_stride=6d", Tol::Fp32, [=](Duo& d) {
    Twin x = d.random(static_cast<size_t>(B * T * D)), y = d.random(static_cast<size_t>(B * T * D));
    Twin mod = d.random(static_cast<size_t>(B * 6 * D));
    return d.compare([&](Backend& be, int s) { be.gated_add(x[s], y[s], mod[s] + 2 * D, 6 * D, B, T, D); },
                     {whole(x)});
  });
  rms_norm_checks(c);
}

// ---- layout and Sana blocks ------------------------------------------------------------------

void layout_checks(Checker& c) {
  for (int64_t p : {1, 2}) {
    c.check(format("patchify batch=2 channels=32 64x48 p=%lld", (long long)p), Tol::Exact, [p](Duo& d) {
      const int64_t B = 2, C = 32, H = 64, W = 48;
      Twin x = d.random(static_cast<size_t>(B * C * H * W)), tokens = d.random(static_cast<size_t>(B * C * H * W));
      return d.compare([&](Backend& be, int s) { be.patchify(x[s], B, C, H, W, p, tokens[s]); }, {whole(tokens)});
    });
    c.check(format("unpatchify batch=2 32x24 tokens p=%lld channels=32", (long long)p), Tol::Exact, [p](Duo& d) {
      const int64_t B = 2, h = 32, w = 24, C = 32, n = B * h * w * p * p * C;
      Twin tokens = d.random(static_cast<size_t>(n)), x = d.random(static_cast<size_t>(n));
      return d.compare([&](Backend& be, int s) { be.unpatchify(tokens[s], B, h, w, p, C, x[s]); }, {whole(x)});
    });
  }
  for (int64_t half : {320, 45})
    c.check(format("dwconv3x3_glu batch=2 32x24 half=%lld bias", (long long)half), Tol::Fp32, [half](Duo& d) {
      const int64_t B = 2, h = 32, w = 24, C = 2 * half;
      Twin x = d.random(static_cast<size_t>(B * h * w * C)), wt = d.random(static_cast<size_t>(9 * C));
      Twin bias = d.random(static_cast<size_t>(C)), out = d.random(static_cast<size_t>(B * h * w * half));
      return d.compare([&](Backend& be, int s) { be.dwconv3x3_glu(x[s], B, h, w, half, wt[s], bias[s], out[s]); },
                       {whole(out)});
    });
}

struct LinearAttentionCase {
  int64_t batch, tokens, heads;
  bool identity, strided_out;
};

void linear_attention_checks(Checker& c) {
  const int64_t hd = 32;
  const LinearAttentionCase cases[] = {
      {2, 1024, 4, false, false}, {2, 1024, 4, true, false}, {2, 1024, 4, false, true}, {2, 4096, 8, false, false}};
  for (const LinearAttentionCase& t : cases) {
    const std::string name = format("linear_attention batch=2 tokens=%lld heads=%lld head_dim=32 fused qkv %s %s",
                                    (long long)t.tokens, (long long)t.heads,
                                    t.identity ? "identity={0,1}" : "identity=null",
                                    t.strided_out ? "out_stride=C+32@+16" : "out dense");
    c.check(name, Tol::Fp32, [=](Duo& d) {
      const int64_t C = t.heads * hd, rows = t.batch * t.tokens, os = t.strided_out ? C + 32 : C;
      const int64_t off = t.strided_out ? 16 : 0;
      Twin qkv = d.random(static_cast<size_t>(rows * 3 * C)), out = d.random(static_cast<size_t>(rows * os));
      const uint8_t flags[] = {0, 1};  // HOST array: item 1 takes PAG's identity path
      return d.compare(
          [&](Backend& be, int s) {
            be.linear_attention(qkv[s], qkv[s] + C, qkv[s] + 2 * C, 3 * C, t.batch, t.tokens, t.heads, hd,
                                t.identity ? flags : nullptr, out[s] + off, os);
          },
          {region(out, off, rows, C, os)});
    });
  }
}

struct SoftmaxCase {
  int64_t head_dim;
  bool key_bias, kv_index, strided_out;
};

void softmax_attention_checks(Checker& c) {
  const SoftmaxCase cases[] = {{32, false, false, false}, {32, true, false, false}, {32, false, true, false},
                               {32, true, true, true},    {72, true, true, false}};
  for (const SoftmaxCase& t : cases) {
    const std::string name = format(
        "softmax_attention nq=nk=300 heads=4 head_dim=%lld key_bias=%s kv_index=%s%s", (long long)t.head_dim,
        t.key_bias ? "masked" : "null", t.kv_index ? "{1,0,0}" : "null",
        t.strided_out ? " out_stride=C+8@+8" : "");
    c.check(name, Tol::Fp32, [=](Duo& d) {
      const int64_t heads = 4, C = heads * t.head_dim, nq = 300, nk = 300, texts = 2;
      const int64_t batch = t.kv_index ? 3 : texts, os = t.strided_out ? C + 8 : C, off = t.strided_out ? 8 : 0;
      Twin q = d.random(static_cast<size_t>(batch * nq * C), -2.0f, 2.0f);
      Twin kv = d.random(static_cast<size_t>(texts * nk * 2 * C), -2.0f, 2.0f);  // k | v per text row
      // The text mask: text 0 has 120 real tokens, text 1 all 300.
      std::vector<float> host_bias(static_cast<size_t>(texts * nk), 0.0f);
      std::fill(host_bias.begin() + 120, host_bias.begin() + nk, -10000.0f);
      Twin bias = d.put(host_bias);
      Twin out = d.random(static_cast<size_t>(batch * nq * os));
      const int64_t index[] = {1, 0, 0};  // HOST array
      const float scale = 1.0f / std::sqrt(static_cast<float>(t.head_dim));
      return d.compare(
          [&](Backend& be, int s) {
            be.softmax_attention(q[s], C, kv[s], kv[s] + C, 2 * C, t.key_bias ? bias[s] : nullptr,
                                 t.kv_index ? index : nullptr, batch, nq, nk, heads, t.head_dim, scale, out[s] + off,
                                 os);
          },
          {region(out, off, batch * nq, C, os)});
    });
  }
}

// ---- DC-AE -------------------------------------------------------------------------------------

struct ConvCase {
  Conv2dShape s;
  bool bias;
  Activation act;
  bool upload_weight;  // the model uploads groups == 1 weights this way, grouped ones plainly
};

Conv2dShape conv_shape(int64_t batch, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                       int64_t groups, int64_t upsample) {
  Conv2dShape s;
  s.batch = batch;
  s.height = h;
  s.width = w;
  s.in_channels = cin;
  s.out_channels = cout;
  s.kernel = kernel;
  s.stride = stride;
  s.groups = groups;
  s.upsample = upsample;
  return s;
}

std::string conv_name(const ConvCase& t) {
  const Conv2dShape& s = t.s;
  return format("conv2d batch=%lld %lldx%lldx%lld->%lld k%lld s%lld up%lld g%lld bias=%s act=%s w=%s",
                (long long)s.batch, (long long)s.height, (long long)s.width, (long long)s.in_channels,
                (long long)s.out_channels, (long long)s.kernel, (long long)s.stride, (long long)s.upsample,
                (long long)s.groups, t.bias ? "yes" : "null", act_name(t.act),
                t.upload_weight ? "upload_weight" : "alloc");
}

Outcome run_conv(Duo& d, const ConvCase& t) {
  const Conv2dShape& s = t.s;
  const int64_t cin_g = s.in_channels / s.groups, row = s.kernel * s.kernel * cin_g;
  Twin x = d.random(static_cast<size_t>(s.batch * s.height * s.width * s.in_channels));
  const auto host_w = d.host_weight(static_cast<size_t>(s.out_channels * row), row);
  Twin w = t.upload_weight ? d.put_weight(host_w) : d.put(host_w);
  Twin bias = d.random(static_cast<size_t>(s.out_channels));
  Twin y = d.random(static_cast<size_t>(s.batch * s.out_height() * s.out_width() * s.out_channels));
  return d.compare([&](Backend& be, int si) { be.conv2d(x[si], s, w[si], t.bias ? bias[si] : nullptr, t.act, y[si]); },
                   {whole(y)});
}

void conv_checks(Checker& c) {
  std::vector<ConvCase> cases = {
      {conv_shape(2, 32, 32, 128, 256, 1, 1, 1, 1), true, Activation::None, true},  // pointwise: a GEMM
      {conv_shape(2, 32, 32, 128, 256, 1, 1, 1, 1), false, Activation::None, false},
      {conv_shape(2, 32, 32, 64, 96, 3, 1, 1, 1), false, Activation::None, true},
      {conv_shape(2, 32, 32, 64, 96, 3, 1, 1, 1), false, Activation::None, false},
      {conv_shape(2, 33, 31, 64, 128, 3, 2, 1, 1), true, Activation::None, true},  // downsample, odd edges
      {conv_shape(2, 16, 16, 128, 64, 3, 1, 1, 2), true, Activation::None, true},  // DCUpBlock2d's upsample
      {conv_shape(2, 17, 15, 32, 48, 1, 2, 1, 1), true, Activation::ReLU, true},   // strided pointwise
      {conv_shape(2, 32, 32, 256, 256, 1, 1, 8, 1), false, Activation::None, false},  // grouped projections
      {conv_shape(2, 16, 16, 64, 64, 3, 1, 4, 1), true, Activation::SiLU, false},
      {conv_shape(1, 64, 64, 3, 128, 3, 1, 1, 1), true, Activation::None, true},  // encoder conv_in: 27 taps
      {conv_shape(1, 64, 64, 128, 3, 3, 1, 1, 1), true, Activation::None, true},  // decoder conv_out: 3 outputs
      {conv_shape(1, 64, 64, 128, 128, 3, 1, 1, 1), true, Activation::None, true},  // grid limits
      // conv_out of a 512² decode: 302M im2col entries, more than one band of columns on CUDA.
      {conv_shape(1, 512, 512, 128, 3, 3, 1, 1, 1), true, Activation::None, true},
  };
  for (Activation act : kActivations)
    cases.push_back({conv_shape(2, 32, 32, 64, 96, 3, 1, 1, 1), true, act, true});
  for (const ConvCase& t : cases) c.check(conv_name(t), Tol::Gemm, [t](Duo& d) { return run_conv(d, t); });

  for (int64_t kernel : {3, 5})
    for (bool bias : {true, false}) {
      const int64_t C = bias ? 384 : 200;  // 200: a channel tail after the vector body
      c.check(format("depthwise_conv2d batch=2 32x32 channels=%lld k%lld bias=%s", (long long)C, (long long)kernel,
                     bias ? "yes" : "null"),
              Tol::Fp32, [=](Duo& d) {
                const int64_t B = 2, H = 32, W = 32;
                Twin x = d.random(static_cast<size_t>(B * H * W * C));
                Twin w = d.random(static_cast<size_t>(kernel * kernel * C)), b = d.random(static_cast<size_t>(C));
                Twin y = d.random(static_cast<size_t>(B * H * W * C));
                return d.compare(
                    [&](Backend& be, int s) {
                      be.depthwise_conv2d(x[s], B, H, W, C, kernel, w[s], bias ? b[s] : nullptr, y[s]);
                    },
                    {whole(y)});
              });
    }
}

void dc_ae_norm_shortcut_checks(Checker& c) {
  const int64_t rows = 2048, dim = 256;
  for (const char* residual : {"null", "separate", "aliasing y"})
    c.check(format("rms_norm_affine 2048x256 eps=1e-5 residual=%s", residual), Tol::Fp32, [=](Duo& d) {
      Twin x = d.random(static_cast<size_t>(rows * dim), -2.0f, 3.0f);
      Twin w = d.random(dim, 0.5f, 1.5f), b = d.random(dim), res = d.random(static_cast<size_t>(rows * dim));
      Twin y = d.random(static_cast<size_t>(rows * dim));  // holds the residual when it aliases y
      const std::string_view mode = residual;
      return d.compare(
          [&](Backend& be, int s) {
            const float* r = mode == "null" ? nullptr : mode == "separate" ? res[s] : y[s];
            be.rms_norm_affine(x[s], rows, dim, w[s], b[s], 1e-5f, r, y[s]);
          },
          {whole(y)});
    });

  struct Shortcut {
    int64_t batch, height, width, in, factor, out;
  };
  for (const Shortcut t : {Shortcut{2, 16, 16, 128, 2, 256}, Shortcut{1, 32, 32, 32, 1, 256}})
    c.check(format("add_channel_repeat batch=%lld %lldx%lldx%lld factor=%lld out=%lld", (long long)t.batch,
                   (long long)t.height, (long long)t.width, (long long)t.in, (long long)t.factor, (long long)t.out),
            Tol::Fp32, [t](Duo& d) {
              Twin x = d.random(static_cast<size_t>(t.batch * t.height * t.width * t.in));
              Twin y = d.random(
                  static_cast<size_t>(t.batch * t.height * t.factor * t.width * t.factor * t.out));
              return d.compare(
                  [&](Backend& be, int s) {
                    be.add_channel_repeat(x[s], t.batch, t.height, t.width, t.in, t.factor, t.out, y[s]);
                  },
                  {whole(y)});
            });
  for (const Shortcut t : {Shortcut{2, 32, 32, 128, 2, 256}, Shortcut{1, 32, 32, 512, 1, 32}})
    c.check(format("add_channel_group_mean batch=%lld %lldx%lldx%lld factor=%lld out=%lld", (long long)t.batch,
                   (long long)t.height, (long long)t.width, (long long)t.in, (long long)t.factor, (long long)t.out),
            Tol::Fp32, [t](Duo& d) {
              Twin x = d.random(static_cast<size_t>(t.batch * t.height * t.width * t.in));
              Twin y = d.random(
                  static_cast<size_t>(t.batch * (t.height / t.factor) * (t.width / t.factor) * t.out));
              return d.compare(
                  [&](Backend& be, int s) {
                    be.add_channel_group_mean(x[s], t.batch, t.height, t.width, t.in, t.factor, t.out, y[s]);
                  },
                  {whole(y)});
            });
}

void relu_attention_checks(Checker& c) {
  const int64_t hd = 32, groups = 8, dense_qkv = groups * 3 * hd, dense_out = groups * hd;
  struct Case {
    int64_t tokens;
    bool quadratic, strided;
  };
  for (const Case t : {Case{1024, false, false}, Case{1024, false, true}, Case{32, true, false}, Case{16, true, true}})
    c.check(format("relu_group_attention %s batch=2 tokens=%lld groups=8 head_dim=32 %s",
                   t.quadratic ? "quadratic" : "linear", (long long)t.tokens,
                   t.strided ? "qkv/out strides +32/+16 @+8" : "dense"),
            Tol::Fp32, [=](Duo& d) {
              const int64_t B = 2, qs = dense_qkv + (t.strided ? 32 : 0), os = dense_out + (t.strided ? 16 : 0);
              const int64_t off = t.strided ? 8 : 0, rows = B * t.tokens;
              Twin qkv = d.random(static_cast<size_t>(rows * qs)), out = d.random(static_cast<size_t>(rows * os));
              return d.compare(
                  [&](Backend& be, int s) {
                    be.relu_group_attention(qkv[s], qs, B, t.tokens, groups, hd, t.quadratic, out[s] + off, os);
                  },
                  {region(out, off, rows, dense_out, os)});
            });

  const int64_t per_group = hd * hd + hd, tokens = 1024, split = 400;
  c.check("relu_attention_stats tokens=400+624 groups=8 head_dim=32 into zeroed stats", Tol::Fp32,
          [=](Duo& d) {
            Twin qkv = d.random(static_cast<size_t>(tokens * dense_qkv));
            Twin stats = d.put(std::vector<float>(static_cast<size_t>(groups * per_group), 0.0f));
            return d.compare(
                [&](Backend& be, int s) {
                  be.relu_attention_stats(qkv[s], dense_qkv, split, groups, hd, stats[s]);
                  be.relu_attention_stats(qkv[s] + split * dense_qkv, dense_qkv, tokens - split, groups, hd,
                                          stats[s]);
                },
                {whole(stats)});
          });
  c.check("relu_attention_apply tokens=1024 groups=8 head_dim=32 out_stride=256+16@+8", Tol::Fp32, [=](Duo& d) {
    Twin qkv = d.random(static_cast<size_t>(tokens * dense_qkv));
    // A finished summary like one of ~400 tokens: kv sums of either sign, positive key sums.
    std::vector<float> host_stats = d.host_random(static_cast<size_t>(groups * per_group), -40.0f, 40.0f);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t j = 0; j < hd; ++j) host_stats[g * per_group + hd * hd + j] = 100.0f + 0.5f * j;
    Twin stats = d.put(host_stats);
    const int64_t os = dense_out + 16, off = 8;
    Twin out = d.random(static_cast<size_t>(tokens * os));
    return d.compare(
        [&](Backend& be, int s) {
          be.relu_attention_apply(qkv[s], dense_qkv, tokens, groups, hd, stats[s], out[s] + off, os);
        },
        {region(out, off, tokens, dense_out, os)});
  });
}

// ---- Gemma-2 -----------------------------------------------------------------------------------

// cos / sin tables (tokens, head_dim / 2) of rotate-half RoPE with theta 10000.
std::pair<std::vector<float>, std::vector<float>> rope_tables(int64_t tokens, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  std::vector<float> cos(static_cast<size_t>(tokens * half)), sin(cos.size());
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = t * std::pow(10000.0, -2.0 * i / head_dim);
      cos[t * half + i] = static_cast<float>(std::cos(angle));
      sin[t * half + i] = static_cast<float>(std::sin(angle));
    }
  return {cos, sin};
}

struct CausalCase {
  CausalShape s;
  bool padded;  // batch item 1 has key_valid zeros, so some queries see no key at all
  bool strided_out;
};

std::string causal_name(const CausalCase& t) {
  return format(
      "causal_attention batch=%lld tokens=%lld heads=%lld/%lld kv head_dim=%lld softcap=%g window=%lld%s%s",
      (long long)t.s.batch, (long long)t.s.tokens, (long long)t.s.heads, (long long)t.s.kv_heads,
      (long long)t.s.head_dim, t.s.softcap, (long long)t.s.window, t.padded ? " key_valid holes" : "",
      t.strided_out ? " out_stride=C+16@+8" : "");
}

Outcome run_causal(Duo& d, const CausalCase& t) {
  const CausalShape& s = t.s;
  const int64_t q_cols = s.heads * s.head_dim, kv_cols = s.kv_heads * s.head_dim;
  const int64_t stride = q_cols + 2 * kv_cols, rows = s.batch * s.tokens;  // fused q | k | v rows
  const int64_t os = t.strided_out ? q_cols + 16 : q_cols, off = t.strided_out ? 8 : 0;
  Twin qkv = d.random(static_cast<size_t>(rows * stride), -4.0f, 4.0f);  // scores reach the soft cap
  std::vector<float> host_valid(static_cast<size_t>(rows), 1.0f);
  if (t.padded && s.batch > 1) {
    // Item 1: 12 left-padding keys (queries 0..11 see none) and a hole of 10 at 100..109 (with
    // a window of 8, queries 107..109 see none either).
    std::fill_n(host_valid.begin() + s.tokens, 12, 0.0f);
    std::fill_n(host_valid.begin() + s.tokens + 100, 10, 0.0f);
  }
  Twin valid = d.put(host_valid);
  Twin out = d.random(static_cast<size_t>(rows * os));
  return d.compare(
      [&](Backend& be, int si) {
        be.causal_attention(qkv[si], stride, qkv[si] + q_cols, qkv[si] + q_cols + kv_cols, stride, valid[si], s,
                            out[si] + off, os);
      },
      {region(out, off, rows, q_cols, os)});
}

CausalShape causal_shape(int64_t batch, int64_t tokens, int64_t heads, int64_t kv_heads, int64_t head_dim,
                         float softcap, int64_t window) {
  CausalShape s;
  s.batch = batch;
  s.tokens = tokens;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.head_dim = head_dim;
  s.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  s.softcap = softcap;
  s.window = window;
  return s;
}

void causal_attention_checks(Checker& c) {
  const CausalCase cases[] = {
      {causal_shape(2, 300, 4, 2, 64, 0.0f, 0), false, false},
      {causal_shape(2, 300, 4, 2, 64, 0.0f, 0), true, true},
      {causal_shape(2, 300, 4, 2, 64, 2.0f, 0), true, false},
      {causal_shape(2, 300, 4, 2, 64, 0.0f, 64), true, false},
      {causal_shape(2, 300, 4, 2, 64, 2.0f, 8), true, false},
      {causal_shape(2, 300, 8, 4, 256, 2.0f, 4096), true, false},  // Gemma-2 2B's head shape
  };
  for (const CausalCase& t : cases) c.check(causal_name(t), Tol::Fp32, [t](Duo& d) { return run_causal(d, t); });
}

void gemma_checks(Checker& c) {
  struct RopeCase {
    int64_t heads, head_dim, offset_heads, row_heads;  // heads rotated at column offset_heads * head_dim
  };
  // q (8 heads) and k (4 heads at +8) of a fused q | k | v row of 16 heads of 256, and a small head.
  for (const RopeCase t : {RopeCase{8, 256, 0, 16}, RopeCase{4, 256, 8, 16}, RopeCase{4, 64, 4, 10}})
    c.check(format("rope batch=2 tokens=300 heads=%lld head_dim=%lld stride=%lld@+%lld in place", (long long)t.heads,
                   (long long)t.head_dim, (long long)(t.row_heads * t.head_dim),
                   (long long)(t.offset_heads * t.head_dim)),
            Tol::Fp32, [t](Duo& d) {
              const int64_t B = 2, T = 300, stride = t.row_heads * t.head_dim, off = t.offset_heads * t.head_dim;
              Twin x = d.random(static_cast<size_t>(B * T * stride), -2.0f, 2.0f);
              const auto [host_cos, host_sin] = rope_tables(T, t.head_dim);
              Twin cos = d.put(host_cos), sin = d.put(host_sin);
              return d.compare(
                  [&](Backend& be, int s) { be.rope(x[s] + off, B, T, t.heads, t.head_dim, stride, cos[s], sin[s]); },
                  {region(x, off, B * T, t.heads * t.head_dim, stride)});
            });
  struct GegluCase {
    int64_t n, extra;  // x rows are 2n + extra floats apart
  };
  for (const GegluCase t : {GegluCase{9216, 0}, GegluCase{1000, 16}})  // Gemma-2 2B's width, a padded one
    c.check(format("geglu rows=300 n=%lld x_stride=2n+%lld", (long long)t.n, (long long)t.extra), Tol::Fp32,
            [n = t.n, extra = t.extra](Duo& d) {
              const int64_t rows = 300, xs = 2 * n + extra;
              Twin x = d.random(static_cast<size_t>(rows * xs), -3.0f, 3.0f);
              Twin out = d.random(static_cast<size_t>(rows * n));
              return d.compare([&](Backend& be, int s) { be.geglu(x[s], rows, n, xs, out[s]); }, {whole(out)});
            });
  causal_attention_checks(c);
}

void run_all(Checker& c) {
  memory_checks(c);
  elementwise_checks(c);
  layout_checks(c);
  gemm_checks(c);
  linear_checks(c);
  linear_attention_checks(c);
  softmax_attention_checks(c);
  conv_checks(c);
  dc_ae_norm_shortcut_checks(c);
  relu_attention_checks(c);
  gemma_checks(c);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--a" && has_value) {
      o.a = argv[++i];
    } else if (arg == "--b" && has_value) {
      o.b = argv[++i];
    } else if (arg == "--only" && has_value) {
      o.only = argv[++i];
    } else if (arg == "--list") {
      o.list = true;
    } else {
      fail("usage: sana_backend_check [--a cpu] [--b cuda] [--only SUBSTRING] [--list] (bad argument \"" +
           std::string(arg) + "\")");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options opt = parse_options(argc, argv);
    if (opt.list) {
      Checker checker(nullptr, nullptr, opt);
      run_all(checker);
      return 0;
    }
    const auto a = make_backend(opt.a);
    const auto b = make_backend(opt.b);
    Checker checker(a.get(), b.get(), opt);
    std::printf("A: %s (%zu threads), B: %s (%zu threads), sgemm engine %s, GEMM tolerance %.0e/%.0e%s\n",
                std::string(a->name()).c_str(), a->threads(), std::string(b->name()).c_str(), b->threads(),
                std::string(sgemm_engine()).c_str(), checker.gemm_tol().rel, checker.gemm_tol().max,
                opt.only.empty() ? "" : (", only \"" + opt.only + "\"").c_str());
    run_all(checker);
    return checker.summary();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sana_backend_check: %s\n", e.what());
    return 2;
  }
}
