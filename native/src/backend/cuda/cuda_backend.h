#pragma once
// The CUDA implementation of Backend: device memory, one stream, cuBLASLt GEMMs and the
// kernels of kernels.h. Activations are float32; weight matrices uploaded through
// upload_weight() are bf16 and multiply on the tensor cores with float32 accumulation
// (SANA_CUDA_GEMM=fp32 keeps them float32 with float32 math: the exact mode the device
// check compares with the CPU at CPU tolerances). Ops only queue work; download()
// synchronises, so results reach the host in order.
#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "backend/cuda/device_arena.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/stream.h"

namespace sana::cuda {

enum class GemmMode : uint8_t { BF16, F32 };

// Device memory in use (all of the device's, as cudaMemGetInfo reports it: on a GPU serving
// one engine that is this process), now and at its highest since reset_peak(). Memory only
// grows when this backend allocates, so sampling there catches the peak.
struct MemoryStats {
  size_t used_bytes = 0;
  size_t peak_bytes = 0;
  size_t total_bytes = 0;
};

class CudaBackend final : public Backend {
 public:
  // device: a CUDA device index; mode: the GEMM precision. Throws when there is no device.
  CudaBackend(int device, GemmMode mode);
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  size_t threads() const override { return 1; }
  GemmMode gemm_mode() const { return mode_; }
  MemoryStats memory() const;
  void reset_peak();
  // Waits for every queued op (for timing).
  void synchronize();

  Buffer alloc(size_t n) override;
  Buffer upload_weight(const float* host, size_t n) override;
  void upload(float* dst, const float* host, size_t n) override;
  void download(float* host, const float* src, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  float* scratch(size_t n) override;
  void reset_scratch() override;
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

  void rope(float* x, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t stride, const float* cos,
            const float* sin) override;
  void geglu(const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out) override;
  void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                        const float* key_valid, const CausalAttentionShape& shape, float* out,
                        int64_t out_stride) override;

 private:
  // Op-internal workspaces (GEMM inputs in bf16, im2col columns, epilogue temporaries, staged
  // host arrays): reused by every op, grown only when a larger shape first needs it.
  enum Slot : size_t { kGemmInput, kGemmOutput, kColumns, kStaging, kSlots };
  void* workspace(Slot slot, size_t bytes);
  cudaStream_t stream();  // binds this thread to the device first
  // y[m, n] = x[m, k] w^T (+ y when beta == 1); w is a bf16 weight or float32.
  void matmul_xwt(const float* x, int64_t m, int64_t k, int64_t x_stride, const float* w, int64_t n, float* y,
                  int64_t y_stride, float beta);
  void conv2d_gemm(const float* x, const Conv2dShape& shape, const float* weight, float* y);
  template <typename T>
  const T* stage(const T* host, int64_t n);

  int device_;
  GemmMode mode_;
  Stream stream_;
  Gemm gemm_;
  DeviceArena arena_;
  DeviceBuffer<unsigned char> workspaces_[kSlots];
  size_t peak_bytes_ = 0;
  void note_allocation();
};

// The backend make_backend("cuda") returns: the device from SANA_CUDA_DEVICE (default 0), the
// GEMM mode from SANA_CUDA_GEMM ("bf16", the default, or "fp32").
std::unique_ptr<Backend> make_cuda_backend();

}  // namespace sana::cuda
