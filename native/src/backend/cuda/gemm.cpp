#include "backend/cuda/gemm.h"

#include <memory>
#include <string>

#include "backend/cuda/kernels.h"
#include "sana/error.h"

#define SANA_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                 \
    const cublasStatus_t sana_cublas_status_ = (call);                                                 \
    if (sana_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                  \
      ::sana::fail(std::string("cuBLASLt call ") + #call + " failed: " +                               \
                   cublasLtGetStatusName(sana_cublas_status_) + " (" +                                 \
                   cublasLtGetStatusString(sana_cublas_status_) + ") at " + __FILE__ + ":" +           \
                   std::to_string(__LINE__));                                                          \
  } while (0)

namespace sana::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, DescDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, DescDeleter>;

// cuBLASLt's kernels assume the alignment the preference promises (256 bytes by default):
// promise only what the pointer has, since fused projections pass column blocks (q | k | v).
uint32_t alignment_of(const void* p, int64_t ld, size_t element) {
  uint32_t a = 256;
  const auto address = reinterpret_cast<uintptr_t>(p);
  const auto stride = static_cast<uintptr_t>(ld) * element;
  while (a > element && ((address % a) != 0 || (stride % a) != 0)) a >>= 1;
  return a;
}

Layout layout(cudaDataType type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t l = nullptr;
  SANA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
  return Layout(l);
}

}  // namespace

Gemm::Gemm() : workspace_(kWorkspaceBytes) { SANA_CUBLAS_CHECK(cublasLtCreate(&handle_)); }

Gemm::~Gemm() {
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt sees B first,
// with each row-major matrix read as its column-major transpose (same memory, same ld).
void Gemm::run(const GemmCall& g, cudaStream_t stream) {
  if (g.m <= 0 || g.n <= 0) return;
  check(g.k > 0, "gemm: k must be positive");
  const bool bf16 = g.input == GemmInput::BF16;
  const cudaDataType in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const size_t in_size = bf16 ? 2 : 4;
  const cublasOperation_t op_first = g.tb == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.ta == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  // Column-major shapes: first (n x k after op), second (k x m after op), C^T (n x m).
  const int64_t first_rows = op_first == CUBLAS_OP_N ? g.n : g.k, first_cols = op_first == CUBLAS_OP_N ? g.k : g.n;
  const int64_t second_rows = op_second == CUBLAS_OP_N ? g.k : g.m, second_cols = op_second == CUBLAS_OP_N ? g.m : g.k;

  cublasLtMatmulDesc_t raw_desc = nullptr;
  SANA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&raw_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  MatmulDesc desc(raw_desc);
  SANA_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first)));
  SANA_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second)));
  const Layout first = layout(in_type, first_rows, first_cols, g.ldb);
  const Layout second = layout(in_type, second_rows, second_cols, g.lda);
  const Layout out = layout(CUDA_R_32F, g.n, g.m, g.ldc);

  const uint32_t align_first = alignment_of(g.b, g.ldb, in_size), align_second = alignment_of(g.a, g.lda, in_size);
  const uint32_t align_out = alignment_of(g.c, g.ldc, 4);
  const Key key{static_cast<int>(g.ta), static_cast<int>(g.tb), g.m, g.n, g.k, g.lda, g.ldb, g.ldc,
                static_cast<int>(g.input), static_cast<int>(align_first), static_cast<int>(align_second),
                static_cast<int>(align_out) + (g.beta != 0.0f ? 1024 : 0)};
  std::optional<cublasLtMatmulAlgo_t> algo;
  {
    std::lock_guard lock(mutex_);
    auto it = algos_.find(key);
    if (it == algos_.end()) {
      cublasLtMatmulPreference_t raw_pref = nullptr;
      SANA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw_pref));
      Preference pref(raw_pref);
      const uint64_t workspace = kWorkspaceBytes;
      SANA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                             &workspace, sizeof(workspace)));
      SANA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                             &align_first, sizeof(align_first)));
      SANA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                             &align_second, sizeof(align_second)));
      SANA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                             &align_out, sizeof(align_out)));
      SANA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                             &align_out, sizeof(align_out)));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle_, raw_desc, first.get(), second.get(),
                                                                   out.get(), out.get(), raw_pref, 1, &result, &found);
      if (status != CUBLAS_STATUS_NOT_SUPPORTED) SANA_CUBLAS_CHECK(status);
      std::optional<cublasLtMatmulAlgo_t> chosen;
      if (status == CUBLAS_STATUS_SUCCESS && found > 0) chosen = result.algo;
      it = algos_.emplace(key, chosen).first;
    }
    algo = it->second;
  }
  if (!algo) {
    run_fallback(g, stream);
    return;
  }
  SANA_CUBLAS_CHECK(cublasLtMatmul(handle_, raw_desc, &g.alpha, g.b, first.get(), g.a, second.get(), &g.beta, g.c,
                                   out.get(), g.c, out.get(), &*algo, workspace_.data(), kWorkspaceBytes, stream));
}

void Gemm::run_fallback(const GemmCall& g, cudaStream_t stream) {
  const bool ta = g.ta == Trans::Yes, tb = g.tb == Trans::Yes;
  if (g.input == GemmInput::BF16)
    kernels::gemm_fallback(stream, g.m, g.n, g.k, g.alpha, static_cast<const __nv_bfloat16*>(g.a), g.lda, ta,
                           static_cast<const __nv_bfloat16*>(g.b), g.ldb, tb, g.beta, g.c, g.ldc);
  else
    kernels::gemm_fallback(stream, g.m, g.n, g.k, g.alpha, static_cast<const float*>(g.a), g.lda, ta,
                           static_cast<const float*>(g.b), g.ldb, tb, g.beta, g.c, g.ldc);
}

}  // namespace sana::cuda
