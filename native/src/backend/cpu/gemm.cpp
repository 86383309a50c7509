// sgemm(): OpenBLAS when the build has it, the portable kernel otherwise.
//
// OpenBLAS runs single-threaded here and the engine's own pool splits C into column (or
// row) slices, one cblas_sgemm per slice. One set of threads for GEMMs and for the other
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
  // Split the wider side of C; slices are multiples of 64 so each keeps full register tiles.
  if (n >= m) {
    const int64_t step = std::max<int64_t>(64, (n / threads + 63) / 64 * 64);
    pool.parallel_for(0, (n + step - 1) / step, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t s = lo; s < hi; ++s) call(0, m, s * step, std::min(n, (s + 1) * step));
    });
  } else {
    const int64_t step = std::max<int64_t>(16, (m / threads + 15) / 16 * 16);
    pool.parallel_for(0, (m + step - 1) / step, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t s = lo; s < hi; ++s) call(s * step, std::min(m, (s + 1) * step), 0, n);
    });
  }
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
