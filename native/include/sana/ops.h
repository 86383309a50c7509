#pragma once
// Host-side float32 kernels that tools, tests and other engine parts may call directly.
// All matrices are row-major; `lda`/`ldb`/`ldc` are row strides in elements.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sana {

enum class Trans : uint8_t { No, Yes };

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, where op(X) = X or X^T.
// With beta == 0, C is written without being read (NaNs in C do not propagate).
// Uses OpenBLAS when the build found it (SANA_HAVE_CBLAS), the portable kernel otherwise
// or when SANA_GEMM=portable; both run on ThreadPool::global().
void sgemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The portable blocked kernel, always compiled: the fallback when there is no BLAS, and
// the reference the BLAS path is tested against.
void sgemm_portable(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Which implementation sgemm() uses: "openblas" or "portable" (throws on a bad SANA_GEMM).
std::string_view sgemm_engine();

// Relative L2 error ||x - ref|| / ||ref|| accumulated in double (||x - ref|| when ref is 0).
double rel_l2(const float* x, const float* ref, size_t n);

}  // namespace sana
