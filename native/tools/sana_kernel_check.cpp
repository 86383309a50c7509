// Checks the CPU tensor core against straightforward double-precision references: the
// portable SGEMM (and OpenBLAS against it), the thread pool, the arena, the vector exp and
// the transformer's backend kernels. Prints one line per check; exit status 1 on any failure.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/cpu_backend.h"
#include "core/arena.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

using namespace sana;

namespace {

int g_failures = 0;

void report(bool ok, const std::string& what, double value = 0.0) {
  std::printf("%-6s %-70s %.3e\n", ok ? "ok" : "FAIL", what.c_str(), value);
  if (!ok) ++g_failures;
}

std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

double rel_error(const std::vector<float>& got, const std::vector<double>& ref) {
  double d = 0, n = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    d += (got[i] - ref[i]) * (got[i] - ref[i]);
    n += ref[i] * ref[i];
  }
  return std::sqrt(d / std::max(n, 1e-300));
}

// ---- GEMM ----------------------------------------------------------------------------------

std::vector<double> gemm_reference(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                                   const std::vector<float>& a, int64_t lda, const std::vector<float>& b, int64_t ldb,
                                   float beta, const std::vector<float>& c, int64_t ldc) {
  std::vector<double> out(c.begin(), c.end());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta == Trans::No ? a[i * lda + p] : a[p * lda + i];
        const double bv = tb == Trans::No ? b[p * ldb + j] : b[j * ldb + p];
        s += av * bv;
      }
      out[i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * static_cast<double>(c[i * ldc + j]));
    }
  return out;
}

void check_gemm_shapes() {
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {17, 33, 9}, {64, 64, 64}, {129, 70, 300}, {300, 257, 31}};
  uint32_t seed = 1;
  for (const auto& s : sizes)
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes})
        for (float beta : {0.0f, 0.5f}) {
          const int64_t m = s[0], n = s[1], k = s[2];
          // Padded leading dimensions: kernels must honour strides, not assume dense rows.
          const int64_t lda = (ta == Trans::No ? k : m) + 3, ldb = (tb == Trans::No ? n : k) + 5, ldc = n + 2;
          const auto a = random_vector(static_cast<size_t>((ta == Trans::No ? m : k) * lda), seed++);
          const auto b = random_vector(static_cast<size_t>((tb == Trans::No ? k : n) * ldb), seed++);
          auto c = random_vector(static_cast<size_t>(m * ldc), seed++);
          if (beta == 0.0f)  // NaNs in C must not leak through beta = 0
            for (auto& x : c) x = std::nanf("");
          const auto ref = gemm_reference(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, beta, c, ldc);
          for (const bool portable : {true, false}) {
            auto got = c;
            if (portable)
              sgemm_portable(ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
            else
              sgemm(ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
            double err = 0, norm = 0;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                const double d = got[i * ldc + j] - ref[i * ldc + j];
                err += d * d;
                norm += ref[i * ldc + j] * ref[i * ldc + j];
              }
            const double rel = std::sqrt(err / norm);
            char what[160];
            std::snprintf(what, sizeof what, "%s %lldx%lldx%lld ta=%d tb=%d beta=%.1f vs double",
                          portable ? "sgemm_portable" : "sgemm (dispatch)", static_cast<long long>(m),
                          static_cast<long long>(n), static_cast<long long>(k), ta == Trans::Yes, tb == Trans::Yes,
                          beta);
            report(rel < 1e-5, what, rel);
          }
        }
}

void check_gemm_engines_agree() {
  // The model's shapes: activations x weight^T.
  const int64_t shapes[][3] = {{512, 1152, 1152}, {512, 5760, 1152}, {333, 257, 129}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    const auto a = random_vector(static_cast<size_t>(m * k), 11), b = random_vector(static_cast<size_t>(n * k), 12);
    std::vector<float> c1(static_cast<size_t>(m * n)), c2(c1.size());
    sgemm(Trans::No, Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c1.data(), n);
    sgemm_portable(Trans::No, Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c2.data(), n);
    const double rel = rel_l2(c2.data(), c1.data(), c1.size());
    report(rel < 1e-5,
           std::string("portable vs ") + std::string(sgemm_engine()) + " " + std::to_string(m) + "x" +
               std::to_string(n) + "x" + std::to_string(k),
           rel);
  }
}

void check_gemm_epilogue() {
  const int64_t m = 300, n = 700, k = 64;
  const auto a = random_vector(static_cast<size_t>(m * k), 21), b = random_vector(static_cast<size_t>(n * k), 22);
  std::vector<float> c(static_cast<size_t>(m * n));
  for (const bool portable : {true, false}) {
    std::vector<std::atomic<int>> visits(static_cast<size_t>(m * n));
    const cpu::GemmEpilogue ep = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) visits[i * n + j].fetch_add(1);
    };
    if (portable)
      cpu::sgemm_portable_ex(Trans::No, Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n, &ep);
    else
      cpu::sgemm_ex(Trans::No, Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n, &ep);
    bool once = true;
    for (auto& v : visits) once = once && v.load() == 1;
    report(once, std::string(portable ? "portable" : "dispatch") + " GEMM epilogue visits every element once");
  }
}

// ---- thread pool, arena, exp ----------------------------------------------------------------------

void check_thread_pool() {
  ThreadPool& pool = ThreadPool::global();
  std::atomic<int64_t> sum{0};
  pool.parallel_for(0, 100000, 7, [&](int64_t lo, int64_t hi) {
    int64_t s = 0;
    for (int64_t i = lo; i < hi; ++i) s += i;
    sum += s;
  });
  report(sum.load() == int64_t{100000} * 99999 / 2, "parallel_for covers [0, 100000) exactly once");

  std::atomic<int> nested{0};
  pool.parallel_for(0, 8, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      pool.parallel_for(0, 10, 1, [&](int64_t a, int64_t b) { nested += static_cast<int>(b - a); });
  });
  report(nested.load() == 80, "nested parallel_for runs inline without deadlock");

  bool thrown = false;
  try {
    pool.parallel_for(0, 1000, 1, [](int64_t lo, int64_t hi) {
      if (lo <= 500 && 500 < hi) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error& e) {
    thrown = std::string(e.what()) == "boom";
  }
  report(thrown, "an exception in a loop body reaches the caller");

  std::vector<int> parts(13, 0);
  pool.run_parts(parts.size(), [&](size_t p, size_t count) { parts[p] += count == 13 ? 1 : 100; });
  bool all = true;
  for (int p : parts) all = all && p == 1;
  report(all, "run_parts calls each part once with the part count");
}

void check_arena() {
  Arena arena;
  const size_t sizes[] = {1000, 5, 123457, 64, 7000000, 3};
  std::vector<float*> first;
  for (int pass = 0; pass < 3; ++pass) {
    arena.reset();
    std::vector<float*> spans;
    for (size_t n : sizes) {
      float* p = arena.alloc(n);
      std::memset(p, 0, n * sizeof(float));  // all of it must be writable
      spans.push_back(p);
    }
    bool aligned = true;
    for (float* p : spans) aligned = aligned && reinterpret_cast<uintptr_t>(p) % 64 == 0;
    if (pass == 0) report(aligned, "arena spans are 64-byte aligned");
    if (pass == 1) first = spans;
  }
  const size_t after = arena.system_allocations();
  arena.reset();
  std::vector<float*> again;
  for (size_t n : sizes) again.push_back(arena.alloc(n));
  report(arena.system_allocations() == after && again == first,
         "arena: a repeated pass reuses the same memory without allocating",
         static_cast<double>(arena.system_allocations()));
}

// The engine's vector exp, through SiLU (x / (1 + exp(-x))) as the kernels use it; the tools
// build without -march, so the check calls into the engine rather than including simd.h.
void check_exp() {
  std::vector<float> x;
  for (float v = -87.0f; v <= 87.0f; v += 0.0013f) x.push_back(v);
  std::vector<float> y = x;
  cpu::apply_activation(Activation::SiLU, y.data(), static_cast<int64_t>(y.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = x[i] / (1.0 + std::exp(-static_cast<double>(x[i])));
    if (ref != 0.0) worst = std::max(worst, std::fabs(y[i] - ref) / std::fabs(ref));
  }
  report(worst < 6e-7, "SiLU (vector exp) relative error on [-87, 87]", worst);
}

// ---- backend kernels -----------------------------------------------------------------------------

void check_backend_kernels() {
  auto be = make_backend("cpu");
  // Linear attention: B=3, N=37, 3 heads of 8, middle item uses the PAG identity path.
  {
    const int64_t B = 3, N = 37, H = 3, d = 8, C = H * d, stride = 3 * C;
    const auto qkv = random_vector(static_cast<size_t>(B * N * stride), 31);
    std::vector<float> out(static_cast<size_t>(B * N * C));
    const uint8_t identity[] = {0, 1, 0};
    be->linear_attention(qkv.data(), qkv.data() + C, qkv.data() + 2 * C, stride, B, N, H, d, identity, out.data(), C);
    std::vector<double> ref(out.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < N; ++i) {
          const float* qi = qkv.data() + (b * N + i) * stride + h * d;
          double den = 0;
          std::vector<double> num(static_cast<size_t>(d), 0.0);
          for (int64_t j = 0; j < N; ++j) {
            const float* kj = qkv.data() + (b * N + j) * stride + C + h * d;
            const float* vj = kj + C;
            double s = 0;
            for (int64_t c = 0; c < d; ++c) s += std::max(0.0f, kj[c]) * static_cast<double>(std::max(0.0f, qi[c]));
            den += s;
            for (int64_t c = 0; c < d; ++c) num[c] += s * vj[c];
          }
          for (int64_t c = 0; c < d; ++c) {
            const float vi = qkv[(b * N + i) * stride + 2 * C + h * d + c];
            ref[(b * N + i) * C + h * d + c] = identity[b] ? vi : num[c] / (den + 1e-15);
          }
        }
    const double err = rel_error(out, ref);
    report(err < 1e-5, "linear_attention (ReLU kernel, PAG identity item) vs double", err);
  }
  // Softmax attention with a key bias and a text index map.
  {
    const int64_t B = 3, Bt = 2, nq = 70, nk = 19, H = 2, d = 16, C = H * d;
    const auto q = random_vector(static_cast<size_t>(B * nq * C), 41, -2.0f, 2.0f);
    const auto kv = random_vector(static_cast<size_t>(Bt * nk * 2 * C), 42, -2.0f, 2.0f);
    std::vector<float> bias(static_cast<size_t>(Bt * nk), 0.0f);
    for (int64_t j = 11; j < nk; ++j) bias[j] = -10000.0f;  // text 0 has 11 valid tokens
    const int64_t index[] = {1, 0, 0};
    std::vector<float> out(static_cast<size_t>(B * nq * C));
    const float scale = 0.25f;
    be->softmax_attention(q.data(), C, kv.data(), kv.data() + C, 2 * C, bias.data(), index, B, nq, nk, H, d, scale,
                          out.data(), C);
    std::vector<double> ref(out.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < nq; ++i) {
          std::vector<double> s(static_cast<size_t>(nk));
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j < nk; ++j) {
            double dot = 0;
            for (int64_t c = 0; c < d; ++c)
              dot += static_cast<double>(q[(b * nq + i) * C + h * d + c]) * kv[(index[b] * nk + j) * 2 * C + h * d + c];
            s[j] = dot * scale + bias[index[b] * nk + j];
            mx = std::max(mx, s[j]);
          }
          for (auto& x : s) sum += (x = std::exp(x - mx));
          for (int64_t c = 0; c < d; ++c) {
            double o = 0;
            for (int64_t j = 0; j < nk; ++j) o += s[j] / sum * kv[(index[b] * nk + j) * 2 * C + C + h * d + c];
            ref[(b * nq + i) * C + h * d + c] = o;
          }
        }
    const double err = rel_error(out, ref);
    report(err < 1e-5, "softmax_attention (key bias, text index) vs double", err);
  }
  // Masked keys (bias -10000) must get exactly zero weight, as in torch: values 1 on masked
  // keys and 0 elsewhere must give exactly 0 (a clamped exp leaves ~1e-38, i.e. denormals).
  {
    const int64_t nq = 5, nk = 7, d = 16;
    const auto q = random_vector(static_cast<size_t>(nq * d), 43);
    std::vector<float> kv(static_cast<size_t>(nk * 2 * d));
    const auto keys = random_vector(static_cast<size_t>(nk * d), 44);
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t c = 0; c < d; ++c) {
        kv[j * 2 * d + c] = keys[j * d + c];
        kv[j * 2 * d + d + c] = j >= 4 ? 1.0f : 0.0f;
      }
    std::vector<float> bias(static_cast<size_t>(nk), 0.0f);
    for (int64_t j = 4; j < nk; ++j) bias[j] = -10000.0f;
    std::vector<float> out(static_cast<size_t>(nq * d), 1.0f);
    be->softmax_attention(q.data(), d, kv.data(), kv.data() + d, 2 * d, bias.data(), nullptr, 1, nq, nk, 1, d, 0.25f,
                          out.data(), d);
    bool zero = true;
    for (float v : out) zero = zero && v == 0.0f;
    report(zero, "softmax_attention gives masked keys exactly zero weight");
  }
  // Depthwise 3x3 + GLU on a 5x7 grid, 2 images, half = 19 channels (vector body + tail).
  {
    const int64_t B = 2, h = 5, w = 7, half = 19, C = 2 * half;
    const auto x = random_vector(static_cast<size_t>(B * h * w * C), 51);
    const auto wt = random_vector(static_cast<size_t>(9 * C), 52);
    const auto bias = random_vector(static_cast<size_t>(C), 53);
    std::vector<float> out(static_cast<size_t>(B * h * w * half));
    be->dwconv3x3_glu(x.data(), B, h, w, half, wt.data(), bias.data(), out.data());
    std::vector<double> ref(out.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          std::vector<double> conv(static_cast<size_t>(C));
          for (int64_t c = 0; c < C; ++c) {
            double s = bias[c];
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t sy = y + ky - 1, sx = xx + kx - 1;
                if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                s += static_cast<double>(wt[(ky * 3 + kx) * C + c]) * x[((b * h + sy) * w + sx) * C + c];
              }
            conv[c] = s;
          }
          for (int64_t c = 0; c < half; ++c) {
            const double g = conv[half + c];
            ref[((b * h + y) * w + xx) * half + c] = conv[c] * g / (1.0 + std::exp(-g));
          }
        }
    const double err = rel_error(out, ref);
    report(err < 1e-6, "dwconv3x3_glu (zero padding, SiLU gate) vs double", err);
  }
  // LayerNorm with per-batch modulation, and RMSNorm on a strided column block.
  {
    const int64_t B = 2, T = 9, D = 40;
    const auto x = random_vector(static_cast<size_t>(B * T * D), 61, -3.0f, 5.0f);
    const auto mod = random_vector(static_cast<size_t>(B * 3 * D), 62);
    std::vector<float> y(x.size());
    be->layer_norm_modulate(x.data(), B, T, D, 1e-6f, mod.data(), mod.data() + D, 3 * D, y.data());
    std::vector<double> ref(y.size());
    for (int64_t r = 0; r < B * T; ++r) {
      const int64_t b = r / T;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < D; ++i) mean += x[r * D + i];
      mean /= D;
      for (int64_t i = 0; i < D; ++i) var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
      var /= D;
      for (int64_t i = 0; i < D; ++i)
        ref[r * D + i] =
            (x[r * D + i] - mean) / std::sqrt(var + 1e-6) * (1.0 + mod[b * 3 * D + D + i]) + mod[b * 3 * D + i];
    }
    double err = rel_error(y, ref);
    report(err < 1e-6, "layer_norm_modulate vs double", err);

    const auto weight = random_vector(static_cast<size_t>(D), 63);
    std::vector<float> z(static_cast<size_t>(B * T * 2 * D), 7.0f);
    be->rms_norm(x.data(), B * T, D, D, weight.data(), 1e-5f, z.data() + D, 2 * D);
    std::vector<float> got;
    std::vector<double> rref;
    bool untouched = true;
    for (int64_t r = 0; r < B * T; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i) ss += static_cast<double>(x[r * D + i]) * x[r * D + i];
      const double inv = 1.0 / std::sqrt(ss / D + 1e-5);
      for (int64_t i = 0; i < D; ++i) {
        got.push_back(z[r * 2 * D + D + i]);
        rref.push_back(x[r * D + i] * inv * weight[i]);
        untouched = untouched && z[r * 2 * D + i] == 7.0f;
      }
    }
    err = rel_error(got, rref);
    report(err < 1e-6 && untouched, "rms_norm into a strided column block vs double", err);
  }
  // patchify then unpatchify is the identity (p = 2), and linear() = x W^T + b with SiLU.
  {
    const int64_t B = 2, C = 3, H = 6, W = 4, p = 2;
    const auto x = random_vector(static_cast<size_t>(B * C * H * W), 71);
    std::vector<float> tokens(x.size()), back(x.size());
    be->patchify(x.data(), B, C, H, W, p, tokens.data());
    // unpatchify expects (dy, dx, c) channel order; reorder (c, dy, dx) tokens accordingly.
    std::vector<float> reordered(tokens.size());
    const int64_t n_tokens = B * (H / p) * (W / p);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t q = 0; q < p * p; ++q) reordered[t * C * p * p + q * C + c] = tokens[t * C * p * p + c * p * p + q];
    be->unpatchify(reordered.data(), B, H / p, W / p, p, C, back.data());
    report(back == x, "patchify / unpatchify round trip (patch 2)");

    const int64_t m = 37, k = 29, n = 45;
    const auto xs = random_vector(static_cast<size_t>(m * k), 72), ws = random_vector(static_cast<size_t>(n * k), 73);
    const auto bs = random_vector(static_cast<size_t>(n), 74);
    std::vector<float> y(static_cast<size_t>(m * n));
    be->linear(xs.data(), m, k, ws.data(), n, bs.data(), Activation::SiLU, y.data());
    std::vector<double> ref(y.size());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = bs[j];
        for (int64_t q = 0; q < k; ++q) s += static_cast<double>(xs[i * k + q]) * ws[j * k + q];
        ref[i * n + j] = s / (1.0 + std::exp(-s));
      }
    const double err = rel_error(y, ref);
    report(err < 1e-6, "linear with fused bias + SiLU vs double", err);
  }
}

}  // namespace

int main() {
  std::printf("sgemm engine: %s, threads: %zu\n", std::string(sgemm_engine()).c_str(), ThreadPool::global().size());
  check_gemm_shapes();
  check_gemm_engines_agree();
  check_gemm_epilogue();
  check_thread_pool();
  check_arena();
  check_exp();
  check_backend_kernels();
  std::printf("%d failure(s)\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
