#pragma once
// SGEMM entry points with an epilogue hook, for kernels that fuse bias/activation into the
// matrix product (see sana/ops.h for the plain ones).
#include <cstdint>
#include <functional>

#include "sana/ops.h"

namespace sana::cpu {

// Called once per finished block [i0, i1) x [j0, j1) of C, by the thread that computed it,
// while the block is still warm in that core's cache.
using GemmEpilogue = std::function<void(int64_t i0, int64_t i1, int64_t j0, int64_t j1)>;

void sgemm_ex(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue* epilogue);

void sgemm_portable_ex(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                       const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue* epilogue);

}  // namespace sana::cpu
