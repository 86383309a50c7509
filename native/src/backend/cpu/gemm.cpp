// sgemm(): OpenBLAS when the build has it, the portable kernel otherwise.
//
// OpenBLAS runs single-threaded here and the engine's own pool splits C into blocks, one
// cblas_sgemm per block. One set of threads for GEMMs and for the other
// kernels means no second pool spinning while ours works, and the same thread count
// (SANA_NUM_THREADS) governs everything.
#include <algorithm>
#include <cmath>
#include <mutex>

#include "backend/cpu/gemm.h"
#include "sana/error.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

#ifdef SANA_HAVE_CBLAS
#include <cblas.h>
#endif

namespace sana {

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
  check(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension");
  if (m == 0 || n == 0) return;
  make_openblas_single_threaded();
  ThreadPool& pool = ThreadPool::global();
  const int64_t threads = static_cast<int64_t>(pool.size());
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
  sgemm_portable_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue);
#endif
}

}  // namespace cpu

void sgemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cpu::sgemm_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

std::string_view sgemm_engine() {
#ifdef SANA_HAVE_CBLAS
  return "openblas";
#else
  return "portable";
#endif
}

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
