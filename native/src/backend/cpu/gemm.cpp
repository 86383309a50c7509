// sgemm(): OpenBLAS when the build has it, the portable kernel otherwise; SANA_GEMM=portable
// (or =openblas) overrides the choice for the whole process, read once. OpenBLAS is not
// always the faster one: in a VM whose CPUID hides the CPU model, OpenBLAS's runtime kernel
// choice can fall back to a generic kernel that the portable one beats twice over.
//
// OpenBLAS runs single-threaded here and the engine's own pool splits C into blocks, one
// cblas_sgemm per block. One set of threads for GEMMs and for the other
// kernels means no second pool spinning while ours works, and the same thread count
// (SANA_NUM_THREADS) governs everything.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "backend/cpu/gemm.h"
#include "sana/error.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

#ifdef SANA_HAVE_CBLAS
#include <cblas.h>
#endif

namespace sana {

namespace {

#ifdef SANA_HAVE_CBLAS
// OpenBLAS picks its kernels once, at load, from CPUID. Where a VM hides the CPU model it
// can settle on an SSE-era core: "Prescott" on a 16-core Sapphire Rapids VM ran 4x slower
// than the portable kernel (OPENBLAS_CORETYPE=SkylakeX fixed it). Returns that core's name
// when the CPU has AVX2 but OpenBLAS is not using AVX2 kernels, else "".
std::string weak_openblas_core() {
  const char* name = openblas_get_corename();
  if (name == nullptr || !__builtin_cpu_supports("avx2")) return "";
  std::string core = name;
  for (char& ch : core) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* good : {"haswell", "excavator", "zen", "skylakex", "cooperlake", "sapphirerapids"})
    if (core == good) return "";
  return name;
}
#endif

bool use_blas() {
  static const bool blas = [] {
#ifdef SANA_HAVE_CBLAS
    constexpr bool available = true;
#else
    constexpr bool available = false;
#endif
    const char* env = std::getenv("SANA_GEMM");
    if (env == nullptr || *env == '\0') {
#ifdef SANA_HAVE_CBLAS
      const std::string weak = weak_openblas_core();
      if (!weak.empty()) {
        std::fprintf(stderr,
                     "sana: OpenBLAS runs its %s kernels on this AVX2 CPU; using the portable SGEMM instead "
                     "(set OPENBLAS_CORETYPE, e.g. SkylakeX or Haswell, to give OpenBLAS the right kernels, "
                     "or SANA_GEMM=openblas to keep it)\n",
                     weak.c_str());
        return false;
      }
#endif
      return available;
    }
    const std::string choice = env;
    if (choice == "portable") return false;
    if (choice == "openblas") {
      check(available, "SANA_GEMM=openblas, but this build has no OpenBLAS (SANA_HAVE_CBLAS)");
      return true;
    }
    fail("SANA_GEMM must be \"openblas\" or \"portable\", got \"" + choice + "\"");
  }();
  return blas;
}

}  // namespace

#ifdef SANA_HAVE_CBLAS
namespace {

void make_openblas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

CBLAS_TRANSPOSE cblas_trans(Trans t) { return t == Trans::No ? CblasNoTrans : CblasTrans; }

// Blocks of C, one cblas_sgemm each.
struct Grid {
  int64_t rows, cols;
};

// The block size that finishes first on `threads` workers: rounds of blocks times the cost
// of a block, which is its multiply-adds plus the packing of its A rows and B columns
// (weighted: packing moves memory, the product runs from registers). Blocks stay multiples
// of 32 rows x 64 columns so OpenBLAS keeps whole register tiles.
Grid choose_grid(int64_t m, int64_t n, int64_t threads) {
  constexpr int64_t kRowUnit = 32, kColUnit = 64, kPackWeight = 16;
  const int64_t row_units = (m + kRowUnit - 1) / kRowUnit, col_units = (n + kColUnit - 1) / kColUnit;
  Grid best{m, n};
  double best_cost = -1;
  for (int64_t nt = 1; nt <= std::min(col_units, 4 * threads); ++nt) {
    const int64_t cols = std::min(n, (col_units + nt - 1) / nt * kColUnit);
    for (int64_t mt = 1; mt <= std::min(row_units, 4 * threads); ++mt) {
      const int64_t rows = std::min(m, (row_units + mt - 1) / mt * kRowUnit);
      const int64_t blocks = ((m + rows - 1) / rows) * ((n + cols - 1) / cols);
      const int64_t rounds = (blocks + threads - 1) / threads;
      const double cost = static_cast<double>(rounds) * (static_cast<double>(rows) * static_cast<double>(cols) +
                                                          kPackWeight * static_cast<double>(rows + cols));
      if (best_cost < 0 || cost < best_cost) {
        best_cost = cost;
        best = {rows, cols};
      }
    }
  }
  return best;
}

}  // namespace
#endif

namespace cpu {

void sgemm_ex(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue* epilogue) {
#ifdef SANA_HAVE_CBLAS
  if (!use_blas()) {
    sgemm_portable_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue);
    return;
  }
  check(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension");
  if (m == 0 || n == 0) return;
  make_openblas_single_threaded();
  ThreadPool& pool = ThreadPool::global();
  // Nested in a pool task (e.g. per-head attention GEMMs) this thread computes alone: one
  // call, not a grid of small ones run one after another.
  const int64_t threads = static_cast<int64_t>(pool.available());
  // Below ~1 MFLOP the fork/join costs more than it saves.
  const bool tiny = m * n * k < (int64_t{1} << 19);
  const auto call = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    const float* a_part = ta == Trans::No ? a + i0 * lda : a + i0;
    const float* b_part = tb == Trans::No ? b + j0 : b + j0 * ldb;
    cblas_sgemm(CblasRowMajor, cblas_trans(ta), cblas_trans(tb), static_cast<int>(i1 - i0), static_cast<int>(j1 - j0),
                static_cast<int>(k), alpha, a_part, static_cast<int>(lda), b_part, static_cast<int>(ldb), beta,
                c + i0 * ldc + j0, static_cast<int>(ldc));
    if (epilogue) (*epilogue)(i0, i1, j0, j1);
  };
  if (tiny || threads == 1) {
    call(0, m, 0, n);
    return;
  }
  const Grid g = choose_grid(m, n, threads);
  const int64_t mt = (m + g.rows - 1) / g.rows, nt = (n + g.cols - 1) / g.cols;
  pool.parallel_for(0, mt * nt, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t i0 = (t % mt) * g.rows, j0 = (t / mt) * g.cols;
      call(i0, std::min(m, i0 + g.rows), j0, std::min(n, j0 + g.cols));
    }
  });
#else
  use_blas();  // rejects SANA_GEMM=openblas here
  sgemm_portable_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue);
#endif
}

}  // namespace cpu

void sgemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cpu::sgemm_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

std::string_view sgemm_engine() { return use_blas() ? "openblas" : "portable"; }

double rel_l2(const float* x, const float* ref, size_t n) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(ref[i]);
    diff += d * d;
    norm += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

}  // namespace sana
