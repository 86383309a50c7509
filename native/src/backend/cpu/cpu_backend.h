#pragma once
// The CPU implementation of Backend: host memory, the global ThreadPool, SIMD kernels and
// sgemm (OpenBLAS or the portable kernel). Kernels live in one file per family:
// cpu_backend.cpp (memory, GEMM, elementwise, norms), layout.cpp, conv.cpp, attention.cpp.
#include "backend/backend.h"
#include "core/arena.h"
#include "sana/thread_pool.h"

namespace sana::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  // Out of line: GCC 12 left the destructor slots of this final class's vtable empty when
  // the implicit destructor was only ever called through Backend (a crash on delete).
  ~CpuBackend() override;

  std::string_view name() const override { return "cpu"; }
  size_t threads() const override { return pool_.size(); }

  Buffer alloc(size_t n) override;
  void upload(float* dst, const float* host, size_t n) override;
  void download(float* host, const float* src, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  float* scratch(size_t n) override { return arena_.alloc(n); }
  void reset_scratch() override { arena_.reset(); }
  size_t scratch_bytes() const override { return arena_.capacity_floats() * sizeof(float); }
  size_t scratch_system_allocations() const override { return arena_.system_allocations(); }

  void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override;
  void linear(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, Activation act,
              float* y, bool accumulate, int64_t x_stride, int64_t y_stride) override;

  void add_table(const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows, int64_t batch,
                 float* out) override;
  void add(float* x, const float* y, int64_t n) override;
  void add_bias(float* x, int64_t rows, int64_t cols, const float* bias) override;
  void activate(Activation act, float* x, int64_t rows, int64_t cols, int64_t stride) override;
  void layer_norm_modulate(const float* x, int64_t batch, int64_t tokens, int64_t d, float eps, const float* shift,
                           const float* scale, int64_t mod_stride, float* y) override;
  void rms_norm(const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight, float eps, float* y,
                int64_t y_stride) override;
  void gated_add(float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch, int64_t tokens,
                 int64_t d) override;

  void patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t p,
                float* tokens) override;
  void unpatchify(const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p, int64_t channels,
                  float* x) override;

  void dwconv3x3_glu(const float* x, int64_t batch, int64_t h, int64_t w, int64_t half, const float* weight,
                     const float* bias, float* out) override;
  void linear_attention(const float* q, const float* k, const float* v, int64_t stride, int64_t batch, int64_t tokens,
                        int64_t heads, int64_t head_dim, const uint8_t* identity, float* out,
                        int64_t out_stride) override;
  void softmax_attention(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                         const float* key_bias, const int64_t* kv_index, int64_t batch, int64_t nq, int64_t nk,
                         int64_t heads, int64_t head_dim, float scale, float* out, int64_t out_stride) override;

  // ---- DC-AE (vae_*.cpp) ----
  void conv2d(const float* x, const Conv2dShape& shape, const float* weight, const float* bias, Activation act,
              float* y) override;
  void depthwise_conv2d(const float* x, int64_t batch, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                        const float* weight, const float* bias, float* y) override;
  void rms_norm_affine(const float* x, int64_t rows, int64_t d, const float* weight, const float* bias, float eps,
                       const float* residual, float* y) override;
  void add_channel_repeat(const float* x, int64_t batch, int64_t height, int64_t width, int64_t in_channels,
                          int64_t factor, int64_t out_channels, float* y) override;
  void add_channel_group_mean(const float* x, int64_t batch, int64_t height, int64_t width, int64_t in_channels,
                              int64_t factor, int64_t out_channels, float* y) override;
  void relu_group_attention(const float* qkv, int64_t qkv_stride, int64_t batch, int64_t tokens, int64_t groups,
                            int64_t head_dim, bool quadratic, float* out, int64_t out_stride) override;
  void relu_attention_stats(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups, int64_t head_dim,
                            float* stats) override;
  void relu_attention_apply(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups, int64_t head_dim,
                            const float* stats, float* out, int64_t out_stride) override;

  // ---- Gemma-2 (gemma_*.cpp) ----
  void rope(float* x, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t stride, const float* cos,
            const float* sin) override;
  void geglu(const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out) override;
  void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                        const float* key_valid, const CausalAttentionShape& shape, float* out,
                        int64_t out_stride) override;

 private:
  ThreadPool& pool_;
  Arena arena_;
};

// Applies `act` to n contiguous floats (shared by the fused GEMM epilogue and activate()).
void apply_activation(Activation act, float* x, int64_t n);

}  // namespace sana::cpu
