#pragma once
// The CUDA kernels behind CudaBackend, one launcher per Backend op (see backend/backend.h
// for what each computes: the launchers keep its argument order and meaning, with the
// stream first). Every pointer is device memory, including the per-batch arrays that the
// Backend interface takes from the host (identity, kv_index): CudaBackend stages those.
// Launchers only queue work on `stream` and check the launch; they never synchronise.
//
// Files: elementwise.cu (modulation, residuals, activations, norms, layout, GLUMBConv),
// attention.cu (Sana linear attention, cross-attention, Gemma-2 attention, RoPE, GeGLU),
// vae.cu (DC-AE convolutions, shortcuts, RMSNorm, ReLU attention), convert.cu (dtypes,
// GEMM epilogue), gemm_fallback.cu (the GEMM cuBLASLt declines).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"

namespace sana::cuda::kernels {

// ---- elementwise.cu ---------------------------------------------------------------------
void add_table(cudaStream_t stream, const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows,
               int64_t batch, float* out);
void add(cudaStream_t stream, float* x, const float* y, int64_t n);
void add_bias(cudaStream_t stream, float* x, int64_t rows, int64_t cols, const float* bias);
void activate(cudaStream_t stream, Activation act, float* x, int64_t rows, int64_t cols, int64_t stride);
void layer_norm_modulate(cudaStream_t stream, const float* x, int64_t batch, int64_t tokens, int64_t d, float eps,
                         const float* shift, const float* scale, int64_t mod_stride, float* y);
void rms_norm(cudaStream_t stream, const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight,
              float eps, float* y, int64_t y_stride);
void gated_add(cudaStream_t stream, float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch,
               int64_t tokens, int64_t d);
void patchify(cudaStream_t stream, const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width,
              int64_t p, float* tokens);
void unpatchify(cudaStream_t stream, const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p,
                int64_t channels, float* x);
void dwconv3x3_glu(cudaStream_t stream, const float* x, int64_t batch, int64_t h, int64_t w, int64_t half,
                   const float* weight, const float* bias, float* out);

// ---- attention.cu -----------------------------------------------------------------------
// identity: device flags (one per batch item) or null.
void linear_attention(cudaStream_t stream, const float* q, const float* k, const float* v, int64_t stride,
                      int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, const uint8_t* identity,
                      float* out, int64_t out_stride);
// kv_index: device array (one per batch item) or null.
void softmax_attention(cudaStream_t stream, const float* q, int64_t q_stride, const float* k, const float* v,
                       int64_t kv_stride, const float* key_bias, const int64_t* kv_index, int64_t batch, int64_t nq,
                       int64_t nk, int64_t heads, int64_t head_dim, float scale, float* out, int64_t out_stride);
void rope(cudaStream_t stream, float* x, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim,
          int64_t stride, const float* cos, const float* sin);
void geglu(cudaStream_t stream, const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out);
void causal_attention(cudaStream_t stream, const float* q, int64_t q_stride, const float* k, const float* v,
                      int64_t kv_stride, const float* key_valid, const Backend::CausalAttentionShape& shape,
                      float* out, int64_t out_stride);

// ---- vae.cu -----------------------------------------------------------------------------
// The whole conv2d op (any groups, stride, upsample) computed directly in float32: the
// reference the GEMM path is checked against, and the path for grouped convs.
void conv2d_direct(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, const float* weight,
                   const float* bias, Activation act, float* y);
// The columns of a groups == 1 conv for output rows [row0, row0 + rows) of every batch item:
// cols[(b * rows + r) * out_width + ox, (ky * kernel + kx) * in_channels + ci], zero where the
// tap falls in the padding, so conv = cols * weight^T. Written as bf16 (the GEMM's input type).
void im2col_bf16(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, int64_t row0, int64_t rows,
                 __nv_bfloat16* cols);
void im2col_f32(cudaStream_t stream, const float* x, const Backend::Conv2dShape& shape, int64_t row0, int64_t rows,
                float* cols);
void depthwise_conv2d(cudaStream_t stream, const float* x, int64_t batch, int64_t height, int64_t width,
                      int64_t channels, int64_t kernel, const float* weight, const float* bias, float* y);
void rms_norm_affine(cudaStream_t stream, const float* x, int64_t rows, int64_t d, const float* weight,
                     const float* bias, float eps, const float* residual, float* y);
void add_channel_repeat(cudaStream_t stream, const float* x, int64_t batch, int64_t height, int64_t width,
                        int64_t in_channels, int64_t factor, int64_t out_channels, float* y);
void add_channel_group_mean(cudaStream_t stream, const float* x, int64_t batch, int64_t height, int64_t width,
                            int64_t in_channels, int64_t factor, int64_t out_channels, float* y);
void relu_group_attention(cudaStream_t stream, const float* qkv, int64_t qkv_stride, int64_t batch, int64_t tokens,
                          int64_t groups, int64_t head_dim, bool quadratic, float* out, int64_t out_stride);
// stats is accumulated into (the caller zeroed it), as the CPU op does.
void relu_attention_stats(cudaStream_t stream, const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                          int64_t head_dim, float* stats);
void relu_attention_apply(cudaStream_t stream, const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                          int64_t head_dim, const float* stats, float* out, int64_t out_stride);

// ---- convert.cu -------------------------------------------------------------------------
// dst[r, c] = bf16(src[r * src_stride + c]) for a rows x cols block (dst dense).
void to_bf16(cudaStream_t stream, const float* src, int64_t rows, int64_t cols, int64_t src_stride,
             __nv_bfloat16* dst);
// The linear() epilogue: y[r, c] = act(t[r, c] + bias[c]) (+ y[r, c] when accumulate);
// t rows t_stride apart, y rows y_stride apart; t may alias y when !accumulate.
void bias_act(cudaStream_t stream, const float* t, int64_t t_stride, int64_t rows, int64_t cols, const float* bias,
              Activation act, bool accumulate, float* y, int64_t y_stride);
// x[i] = value for n floats.
void fill(cudaStream_t stream, float* x, float value, int64_t n);

// ---- gemm_fallback.cu -------------------------------------------------------------------
// Row-major c[m, n] = alpha * op(a) op(b) + beta * c (c not read when beta == 0), float32
// accumulation: for the shapes cuBLASLt declines.
void gemm_fallback(cudaStream_t stream, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   bool ta, const float* b, int64_t ldb, bool tb, float beta, float* c, int64_t ldc);
void gemm_fallback(cudaStream_t stream, int64_t m, int64_t n, int64_t k, float alpha, const __nv_bfloat16* a,
                   int64_t lda, bool ta, const __nv_bfloat16* b, int64_t ldb, bool tb, float beta, float* c,
                   int64_t ldc);

}  // namespace sana::cuda::kernels
