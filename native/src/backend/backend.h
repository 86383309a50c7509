#pragma once
// The one interface between model code and the hardware that runs it.
//
// Model code (src/model/) allocates through a Backend, moves data in and out through it
// and calls only the ops below, so it never learns whether the numbers live in host RAM
// (cpu/) or GPU memory (cuda/). Every pointer an op receives is backend memory: a Buffer,
// a scratch span, or an offset into one. Matrices are row-major with explicit row strides,
// so column blocks of a fused projection (q | k | v) are used in place.
//
// Conventions the kernels share with diffusers' SanaTransformer2DModel:
//   - token-major activations: row r = batch * tokens + (y * width + x), channels contiguous;
//   - per-batch modulation vectors (shift, scale, gate) are rows of a `mod` matrix, one row
//     group per batch item, `mod_stride` floats apart.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "sana/ops.h"

namespace sana {

enum class Activation : uint8_t { None, SiLU, GeluTanh, ReLU };

// Backend memory with its backend's release function.
class Buffer {
 public:
  using Release = void (*)(float*);
  Buffer() = default;
  Buffer(float* data, size_t size, Release release) : data_(data, Deleter{release}), size_(size) {}

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  struct Deleter {
    Release release = nullptr;
    void operator()(float* p) const {
      if (release) release(p);
    }
  };
  std::unique_ptr<float, Deleter> data_{nullptr, Deleter{}};
  size_t size_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual size_t threads() const = 0;

  // ---- memory -------------------------------------------------------------------------
  virtual Buffer alloc(size_t n) = 0;  // persistent (weights, text context)
  virtual void upload(float* dst, const float* host, size_t n) = 0;
  virtual void download(float* host, const float* src, size_t n) = 0;
  virtual void copy(float* dst, const float* src, size_t n) = 0;
  // A weight matrix that only linear() and conv2d() read (as their `w`), uploaded in the
  // backend's GEMM storage format: float32 on the CPU, bf16 on the CUDA backend, which halves
  // its memory and feeds the tensor cores. Pass it whole (its data()) as `w`, and only to
  // linear() or a groups == 1 conv2d(); other ops (and grouped convs) read plain buffers.
  virtual Buffer upload_weight(const float* host, size_t n) {
    Buffer b = alloc(n);
    upload(b.data(), host, n);
    return b;
  }
  // Per-pass workspace: spans live until reset_scratch(); after the first pass at a shape
  // the backend serves them without allocating.
  virtual float* scratch(size_t n) = 0;
  virtual void reset_scratch() = 0;
  virtual size_t scratch_bytes() const = 0;
  virtual size_t scratch_system_allocations() const = 0;

  // ---- dense algebra ------------------------------------------------------------------
  // c = alpha * op(a) op(b) + beta * c; with beta == 0, c is written without being read.
  virtual void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) = 0;
  // y[m, n] = act(x[m, k] w[n, k]^T + bias) (+ y when accumulate): a torch Linear with a
  // fused epilogue. x rows are x_stride apart, y rows y_stride apart (0 = dense).
  virtual void linear(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                      Activation act, float* y, bool accumulate = false, int64_t x_stride = 0,
                      int64_t y_stride = 0) = 0;

  // ---- elementwise and normalisation ----------------------------------------------------
  // adaLN modulation rows: out[b, r, :] = table[r, :] + t[b, r, :] for r < rows (t_rows ==
  // rows, the blocks' 6-row tables) or table[r, :] + t[b, 0, :] (t_rows == 1, the output
  // head's 2-row table plus the embedded timestep). Vectors are d floats.
  virtual void add_table(const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows, int64_t batch,
                         float* out) = 0;
  // x[i] += y[i]
  virtual void add(float* x, const float* y, int64_t n) = 0;
  // x[r, c] += bias[c]
  virtual void add_bias(float* x, int64_t rows, int64_t cols, const float* bias) = 0;
  // In place, on `cols` columns of each of `rows` rows `stride` apart.
  virtual void activate(Activation act, float* x, int64_t rows, int64_t cols, int64_t stride) = 0;
  // y = LayerNorm(x) (no affine) * (1 + scale[b]) + shift[b] for the `tokens` rows of each
  // batch item b; shift/scale rows of batch b start at shift + b * mod_stride (d floats).
  virtual void layer_norm_modulate(const float* x, int64_t batch, int64_t tokens, int64_t d, float eps,
                                   const float* shift, const float* scale, int64_t mod_stride, float* y) = 0;
  // y = x / sqrt(mean(x^2) + eps) * weight (weight may be null), per row of d values.
  virtual void rms_norm(const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight, float eps,
                        float* y, int64_t y_stride) = 0;
  // x[b, t, :] += gate[b] * y[b, t, :], gate rows mod_stride apart.
  virtual void gated_add(float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch,
                         int64_t tokens, int64_t d) = 0;

  // ---- layout -------------------------------------------------------------------------
  // (B, C, H, W) -> tokens (B, (H/p)*(W/p), C*p*p), patch channels ordered (c, dy, dx) like
  // a Conv2d weight of kernel p.
  virtual void patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t p,
                        float* tokens) = 0;
  // Inverse for the output head: tokens (B, h*w, p*p*C), channels ordered (dy, dx, c) like
  // diffusers' unpatchify, -> (B, C, h*p, w*p).
  virtual void unpatchify(const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p, int64_t channels,
                          float* x) = 0;

  // ---- Sana blocks ----------------------------------------------------------------------
  // GLUMBConv middle: 3x3 depthwise conv (zero padding 1, + bias) over the token grid of
  // each batch item, channels 2*half, then GLU: out[.., c] = y[.., c] * silu(y[.., half + c]).
  // x: (B, h*w, 2*half); weight tap-major (9, 2*half), tap = ky * 3 + kx (the transpose of
  // the Conv2d weight, so a tap's channels are contiguous); out: (B, h*w, half).
  virtual void dwconv3x3_glu(const float* x, int64_t batch, int64_t h, int64_t w, int64_t half, const float* weight,
                             const float* bias, float* out) = 0;
  // Sana linear attention per (batch, head), in float32:
  //   out_i = sum_j v_j (relu(k_j) . relu(q_i)) / (sum_j relu(k_j) . relu(q_i) + 1e-15).
  // q, k, v: rows of `tokens` per batch item, `stride` apart, head h in columns
  // [h*head_dim, (h+1)*head_dim). identity (a HOST array, nullable, one flag per batch item)
  // selects PAG's perturbed path: out = v.
  virtual void linear_attention(const float* q, const float* k, const float* v, int64_t stride, int64_t batch,
                                int64_t tokens, int64_t heads, int64_t head_dim, const uint8_t* identity, float* out,
                                int64_t out_stride) = 0;
  // Softmax attention with an additive per-key bias (the -10000 text mask), scaled by `scale`.
  // q: (B, nq, heads*head_dim) rows q_stride apart; k, v: (Bt, nk, ...) rows kv_stride apart;
  // batch item b attends to text item kv_index[b] (a HOST array; null = b); key_bias: (Bt, nk)
  // backend memory, or null.
  virtual void softmax_attention(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                 const float* key_bias, const int64_t* kv_index, int64_t batch, int64_t nq,
                                 int64_t nk, int64_t heads, int64_t head_dim, float scale, float* out,
                                 int64_t out_stride) = 0;

  // ---- DC-AE ----------------------------------------------------------------------------
  // Ops of the DC-AE autoencoder (diffusers AutoencoderDC). Images are NHWC like the tokens
  // above: row (b * height + y) * width + x holds that pixel's channels contiguously, so
  // 1x1 convs are GEMMs and a conv tap reads one contiguous channel vector.

  // Geometry of conv2d(). The input is conceptually nearest-upsampled by `upsample` first
  // (F.interpolate(scale_factor) + Conv2d in DCUpBlock2d), without materialising it; zero
  // padding is kernel / 2 on every side.
  struct Conv2dShape {
    int64_t batch = 1, height = 0, width = 0;  // the stored input grid
    int64_t in_channels = 0, out_channels = 0;
    int64_t kernel = 3, stride = 1, groups = 1, upsample = 1;
    int64_t out_height() const { return (height * upsample + 2 * (kernel / 2) - kernel) / stride + 1; }
    int64_t out_width() const { return (width * upsample + 2 * (kernel / 2) - kernel) / stride + 1; }
  };
  // y = act(conv(x) + bias), bias nullable. weight: (out_channels, kernel * kernel *
  // in_channels / groups), each row ordered (ky, kx, ci): a Conv2d weight with its input
  // channel axis moved last. Output channel block g reads input channel block g.
  virtual void conv2d(const float* x, const Conv2dShape& shape, const float* weight, const float* bias,
                      Activation act, float* y) = 0;
  // Depthwise (groups == channels) kernel x kernel conv, stride 1, zero padding kernel / 2.
  // weight tap-major (kernel * kernel, channels); bias nullable.
  virtual void depthwise_conv2d(const float* x, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                int64_t kernel, const float* weight, const float* bias, float* y) = 0;
  // diffusers RMSNorm(elementwise_affine, bias) on rows of d, plus an optional residual
  // (nullable, may alias y): y = x / sqrt(mean(x^2) + eps) * weight + bias (+ residual).
  virtual void rms_norm_affine(const float* x, int64_t rows, int64_t d, const float* weight, const float* bias,
                               float eps, const float* residual, float* y) = 0;
  // Upsampling shortcut (DCUpBlock2d; factor 1 = Decoder.conv_in's): y += pixel_shuffle(
  // x.repeat_interleave(r, channels), factor), r = out_channels * factor^2 / in_channels.
  // x: (B, height, width, in_channels); y: (B, height * factor, width * factor, out_channels).
  virtual void add_channel_repeat(const float* x, int64_t batch, int64_t height, int64_t width, int64_t in_channels,
                                  int64_t factor, int64_t out_channels, float* y) = 0;
  // Downsampling shortcut (DCDownBlock2d; factor 1 = Encoder.conv_out's): y += mean over
  // consecutive groups of g = in_channels * factor^2 / out_channels channels of
  // pixel_unshuffle(x, factor). x: (B, height, width, in_channels); y: (B, height / factor,
  // width / factor, out_channels).
  virtual void add_channel_group_mean(const float* x, int64_t batch, int64_t height, int64_t width,
                                      int64_t in_channels, int64_t factor, int64_t out_channels, float* y) = 0;
  // SanaMultiscaleAttnProcessor2_0's ReLU attention, in float32. Group g of each row holds
  // q | k | v in columns [g * 3 * head_dim, (g + 1) * 3 * head_dim); its output goes to
  // columns [g * head_dim, (g + 1) * head_dim) of out. With q, k = relu(q), relu(k):
  //   linear:    out_i = (sum_j v_j k_j^T) q_i / ((sum_j k_j) . q_i + 1e-15)
  //   quadratic: s_ji = k_j . q_i / (sum_j' k_j' . q_i + 1e-15), out_i = sum_j v_j s_ji
  // (the processor picks quadratic when tokens <= head_dim).
  virtual void relu_group_attention(const float* qkv, int64_t qkv_stride, int64_t batch, int64_t tokens,
                                    int64_t groups, int64_t head_dim, bool quadratic, float* out,
                                    int64_t out_stride) = 0;
  // The linear form in two halves, for images processed in row bands: accumulate each
  // group's key summary over some tokens of ONE image (stats: groups x (head_dim * head_dim
  // + head_dim) floats, zeroed by the caller: sum_j k_j v_j^T then sum_j k_j), then apply
  // the finished summary to any of its tokens. Same layouts as relu_group_attention.
  virtual void relu_attention_stats(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                                    int64_t head_dim, float* stats) = 0;
  virtual void relu_attention_apply(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                                    int64_t head_dim, const float* stats, float* out, int64_t out_stride) = 0;

  // ---- Gemma-2 --------------------------------------------------------------------------
  // Ops of the Gemma-2 text encoder (transformers Gemma2Model). Activations are token-major
  // like the DiT's: row b * tokens + t, and a token's position is t.

  // Rotary position embedding in transformers' rotate-half form, in place: for each of
  // `heads` heads (head_dim floats, columns [h * head_dim, ...)) of each row `stride` apart,
  // x1, x2 = the two halves; x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin, with the angle
  // table of the row's position: cos, sin are (tokens, head_dim / 2) backend arrays.
  virtual void rope(float* x, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t stride,
                    const float* cos, const float* sin) = 0;
  // GeGLU: out[r, i] = gelu_tanh(x[r, i]) * x[r, n + i] for i < n (gate | up in one row of a
  // fused projection, rows x_stride apart; out rows n floats apart).
  virtual void geglu(const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out) = 0;

  struct CausalAttentionShape {
    int64_t batch = 1, tokens = 0;
    int64_t heads = 1, kv_heads = 1, head_dim = 0;  // query head h reads kv head h / (heads / kv_heads)
    float scale = 1.0f;                             // applied to q . k before the soft cap
    float softcap = 0.0f;                           // > 0: s = softcap * tanh(s / softcap)
    int64_t window = 0;                             // > 0: key j visible to query i iff i - j < window
  };
  // Causal self-attention with transformers' eager semantics: scores as above, then keys
  // j > i, keys outside the window and keys with key_valid[b, j] == 0 are masked (the
  // additive finfo.min mask), softmax, times V. A query that sees no key at all gets, as in
  // eager attention, the uniform average of all `tokens` values. q: rows q_stride apart,
  // heads * head_dim columns; k, v: rows kv_stride apart, kv_heads * head_dim columns;
  // key_valid: (batch, tokens) 0/1 floats in backend memory; out: rows out_stride apart.
  virtual void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                const float* key_valid, const CausalAttentionShape& shape, float* out,
                                int64_t out_stride) = 0;
};

// "cpu" (always) or "cuda" (when built with it). Throws naming the choices otherwise.
std::unique_ptr<Backend> make_backend(std::string_view name = "cpu");

}  // namespace sana
