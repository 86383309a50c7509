// The portable SGEMM: Goto/BLIS-style blocking (packed A and B panels sized for the L1/L2
// caches, an MR x NR register-tile micro-kernel) written with GCC/Clang vector extensions
// so it compiles to AVX-512, AVX2 or NEON without intrinsics. Threads own disjoint tiles
// of C, so no synchronisation is needed inside the loop nest.
#include <algorithm>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/simd.h"
#include "core/arena.h"
#include "sana/error.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

namespace sana {

namespace {

constexpr int kW = simd::kWidth;  // floats per vector register
// Tuned on Zen 4 (AVX-512): an 8 x 32 register tile (16 accumulators), shallow panels so
// the B micro-panel (KC x NR = 16 KiB) stays in L1 next to the streaming A micro-panels.
constexpr int MR = 8;              // rows of the register tile
constexpr int NV = 2;              // vectors per tile row
constexpr int NR = NV * kW;        // columns of the register tile
constexpr int64_t KC = 128;        // depth of a packed panel
constexpr int64_t MC = 256;        // rows of a packed A block (MC*KC*4 = 128 KiB, in L2)
constexpr int64_t NC = 1024;       // columns of a packed B block

using V = simd::Vec;

// Element (i, j) of op(X) where X has row stride ld.
inline float at(const float* x, int64_t ld, Trans t, int64_t i, int64_t j) {
  return t == Trans::No ? x[i * ld + j] : x[j * ld + i];
}

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row micro-panels,
// k-major inside a panel, zero-padded to a multiple of MR rows.
void pack_a(const float* a, int64_t lda, Trans ta, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - ir);
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = out + (ir / MR) * MR * kc + p * MR;
      for (int64_t r = 0; r < rows; ++r) dst[r] = at(a, lda, ta, i0 + ir + r, p0 + p);
      for (int64_t r = rows; r < MR; ++r) dst[r] = 0.0f;
    }
  }
}

// Packs depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column micro-panels.
void pack_b(const float* b, int64_t ldb, Trans tb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* out) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - jr);
    float* panel = out + (jr / NR) * NR * kc;
    if (tb == Trans::No && cols == NR) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(panel + p * NR, b + (p0 + p) * ldb + j0 + jr, NR * sizeof(float));
      continue;
    }
    if (tb == Trans::Yes) {
      // op(B) = B^T: column j of op(B) is row j of B, so read rows contiguously.
      for (int64_t c = 0; c < cols; ++c) {
        const float* src = b + (j0 + jr + c) * ldb + p0;
        for (int64_t p = 0; p < kc; ++p) panel[p * NR + c] = src[p];
      }
      for (int64_t c = cols; c < NR; ++c)
        for (int64_t p = 0; p < kc; ++p) panel[p * NR + c] = 0.0f;
      continue;
    }
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = panel + p * NR;
      for (int64_t c = 0; c < cols; ++c) dst[c] = b[(p0 + p) * ldb + j0 + jr + c];
      for (int64_t c = cols; c < NR; ++c) dst[c] = 0.0f;
    }
  }
}

// acc = Ap (MR x kc) * Bp (kc x NR), then C = alpha * acc + beta * C on the valid rows x cols.
void micro_kernel(int64_t kc, const float* ap, const float* bp, float alpha, float beta, float* c, int64_t ldc,
                  int64_t rows, int64_t cols) {
  V acc[MR][NV] = {};
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(bp + p * NR + v * kW);
    const float* a = ap + p * MR;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const V ar = simd::broadcast(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * bv[v];
    }
  }
  if (rows == MR && cols == NR) {  // whole tile: update C straight from the registers
    const V va = simd::broadcast(alpha), vb = simd::broadcast(beta);
    for (int r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      for (int v = 0; v < NV; ++v) {
        const V out = beta == 0.0f ? va * acc[r][v] : va * acc[r][v] + vb * simd::load(cr + v * kW);
        simd::store(cr + v * kW, out);
      }
    }
    return;
  }
  alignas(64) float tile[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) simd::store(tile[r] + v * kW, acc[r][v]);
  for (int64_t r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < cols; ++j) cr[j] = alpha * tile[r][j];
    } else {
      for (int64_t j = 0; j < cols; ++j) cr[j] = alpha * tile[r][j] + beta * cr[j];
    }
  }
}

}  // namespace

namespace cpu {

void sgemm_portable_ex(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                       const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue* epilogue) {
  check(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension");
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    if (epilogue) (*epilogue)(0, m, 0, n);
    return;
  }
  // Tiles of C: MC rows x NC columns, narrowed so every thread gets work on small problems.
  ThreadPool& pool = ThreadPool::global();
  const int64_t threads = static_cast<int64_t>(pool.available());  // 1 when nested in a pool task
  int64_t nc = NC;
  const int64_t row_tiles = (m + MC - 1) / MC;
  while (nc > NR && row_tiles * ((n + nc - 1) / nc) < threads * 2) nc /= 2;
  nc = std::max<int64_t>(NR, nc / NR * NR);
  const int64_t col_tiles = (n + nc - 1) / nc;
  const int64_t tiles = row_tiles * col_tiles;

  pool.parallel_for(0, tiles, 1, [&](int64_t lo, int64_t hi) {
    // Per-thread packing buffers that outlive the call: no allocation after the first GEMM.
    thread_local AlignedFloats a_pack, b_pack;
    a_pack.ensure(static_cast<size_t>((MC + MR) * KC));
    b_pack.ensure(static_cast<size_t>((NC + NR) * KC));
    for (int64_t t = lo; t < hi; ++t) {
      // Column-tile-major order: consecutive tiles share a B block (the larger operand).
      const int64_t i0 = (t % row_tiles) * MC, j0 = (t / row_tiles) * nc;
      const int64_t mc = std::min(MC, m - i0), ncur = std::min(nc, n - j0);
      for (int64_t p0 = 0; p0 < k; p0 += KC) {
        const int64_t kc = std::min(KC, k - p0);
        const float beta_k = p0 == 0 ? beta : 1.0f;
        pack_b(b, ldb, tb, p0, kc, j0, ncur, b_pack.data());
        pack_a(a, lda, ta, i0, mc, p0, kc, a_pack.data());
        for (int64_t jr = 0; jr < ncur; jr += NR) {
          const float* bp = b_pack.data() + (jr / NR) * NR * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            micro_kernel(kc, a_pack.data() + (ir / MR) * MR * kc, bp, alpha, beta_k, c + (i0 + ir) * ldc + j0 + jr,
                         ldc, std::min<int64_t>(MR, mc - ir), std::min<int64_t>(NR, ncur - jr));
          }
        }
      }
      if (epilogue) (*epilogue)(i0, i0 + mc, j0, j0 + ncur);
    }
  });
}

}  // namespace cpu

void sgemm_portable(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cpu::sgemm_portable_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

}  // namespace sana
