#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend/cuda/check.h"
#include "backend/cuda/device.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/weights.h"
#include "sana/error.h"

namespace sana::cuda {

namespace {

void release_device(float* p) { cudaFree(p); }  // see DeviceBuffer::reset on ignoring the status

int device_from_env() {
  const char* v = std::getenv("SANA_CUDA_DEVICE");
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const long d = std::strtol(v, &end, 10);
  check(*end == '\0' && d >= 0, std::string("SANA_CUDA_DEVICE must be a device index, got \"") + v + "\"");
  return static_cast<int>(d);
}

GemmMode gemm_mode_from_env() {
  const char* v = std::getenv("SANA_CUDA_GEMM");
  if (v == nullptr || *v == '\0' || std::string(v) == "bf16") return GemmMode::BF16;
  if (std::string(v) == "fp32") return GemmMode::F32;
  fail(std::string("SANA_CUDA_GEMM must be \"bf16\" or \"fp32\", got \"") + v + "\"");
}

// Binds the calling thread to the device before the stream exists (N-API workers run ops
// on pool threads whose current device is 0).
int bind_device(int device) {
  const RuntimeInfo info = cuda_device_info();  // a clear error when there is no device
  check(device < static_cast<int>(info.devices.size()),
        "SANA_CUDA_DEVICE=" + std::to_string(device) + " but this host has " + std::to_string(info.devices.size()) +
            " CUDA device(s)");
  SANA_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

}  // namespace

CudaBackend::CudaBackend(int device, GemmMode mode) : device_(bind_device(device)), mode_(mode) { note_allocation(); }

CudaBackend::~CudaBackend() {
  // Buffers handed out may be freed after this; queued work must not outlive the stream.
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_.get());
}

cudaStream_t CudaBackend::stream() {
  int current = -1;
  SANA_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device_) SANA_CUDA_CHECK(cudaSetDevice(device_));
  return stream_.get();
}

void CudaBackend::note_allocation() {
  size_t free_bytes = 0, total_bytes = 0;
  SANA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  peak_bytes_ = std::max(peak_bytes_, total_bytes - free_bytes);
}

MemoryStats CudaBackend::memory() const {
  size_t free_bytes = 0, total_bytes = 0;
  SANA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return {total_bytes - free_bytes, std::max(peak_bytes_, total_bytes - free_bytes), total_bytes};
}

void CudaBackend::reset_peak() {
  peak_bytes_ = 0;
  note_allocation();
}

void CudaBackend::synchronize() { SANA_CUDA_CHECK(cudaStreamSynchronize(stream())); }

// ---- memory -----------------------------------------------------------------------------

Buffer CudaBackend::alloc(size_t n) {
  stream();
  void* raw = nullptr;
  const cudaError_t status = cudaMalloc(&raw, std::max<size_t>(n, 1) * sizeof(float));
  if (status != cudaSuccess) {
    cudaGetLastError();
    fail("out of device memory allocating " + std::to_string((n * sizeof(float)) >> 20) + " MiB on the cuda backend (" +
         cudaGetErrorString(status) + ")");
  }
  note_allocation();
  return Buffer(static_cast<float*>(raw), n, &release_device);
}

Buffer CudaBackend::upload_weight(const float* host, size_t n) {
  if (mode_ == GemmMode::F32) return Backend::upload_weight(host, n);
  // Converted on the device, a bounded chunk at a time, so a 2 GB matrix needs no host copy.
  Buffer w = alloc_bf16_weight(n);
  auto* dst = reinterpret_cast<__nv_bfloat16*>(w.data());
  constexpr size_t kChunk = size_t{16} << 20;
  for (size_t done = 0; done < n; done += kChunk) {
    const size_t count = std::min(kChunk, n - done);
    auto* staged = static_cast<float*>(workspace(kStaging, count * sizeof(float)));
    SANA_CUDA_CHECK(cudaMemcpyAsync(staged, host + done, count * sizeof(float), cudaMemcpyHostToDevice, stream()));
    kernels::to_bf16(stream(), staged, 1, static_cast<int64_t>(count), static_cast<int64_t>(count), dst + done);
  }
  synchronize();  // the staging slot is reused by the next upload
  note_allocation();
  return w;
}

void CudaBackend::upload(float* dst, const float* host, size_t n) {
  if (n == 0) return;
  // From pageable memory the copy returns once the data is staged, so `host` may go.
  SANA_CUDA_CHECK(cudaMemcpyAsync(dst, host, n * sizeof(float), cudaMemcpyHostToDevice, stream()));
}

void CudaBackend::download(float* host, const float* src, size_t n) {
  if (n == 0) return;
  SANA_CUDA_CHECK(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream()));
  SANA_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void CudaBackend::copy(float* dst, const float* src, size_t n) {
  if (n == 0 || dst == src) return;
  SANA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
}

float* CudaBackend::scratch(size_t n) {
  stream();
  const size_t before = arena_.system_allocations();
  float* p = arena_.alloc(n);
  if (arena_.system_allocations() != before) note_allocation();
  return p;
}

void CudaBackend::reset_scratch() {
  // Work queued on earlier spans must finish before the arena may merge (free) its blocks.
  synchronize();
  const size_t before = arena_.system_allocations();
  arena_.reset();
  if (arena_.system_allocations() != before) note_allocation();
}

void* CudaBackend::workspace(Slot slot, size_t bytes) {
  DeviceBuffer<unsigned char>& w = workspaces_[slot];
  if (w.size() < bytes) {
    synchronize();  // queued ops may still read the old one
    w = DeviceBuffer<unsigned char>();
    w = DeviceBuffer<unsigned char>(bytes + bytes / 4);
    note_allocation();
  }
  return w.data();
}

template <typename T>
const T* CudaBackend::stage(const T* host, int64_t n) {
  if (host == nullptr) return nullptr;
  // A host array per call (PAG flags, text indices): synchronise so the slot is free, then copy.
  synchronize();
  auto* dev = static_cast<T*>(workspace(kStaging, static_cast<size_t>(n) * sizeof(T)));
  SANA_CUDA_CHECK(cudaMemcpyAsync(dev, host, static_cast<size_t>(n) * sizeof(T), cudaMemcpyHostToDevice, stream()));
  return dev;
}

// ---- dense algebra ----------------------------------------------------------------------

void CudaBackend::gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                       const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  GemmCall call{ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmInput::F32};
  gemm_.run(call, stream());
}

void CudaBackend::matmul_xwt(const float* x, int64_t m, int64_t k, int64_t x_stride, const float* w, int64_t n,
                             float* y, int64_t y_stride, float beta) {
  const __nv_bfloat16* w16 = find_bf16_weight(w);
  GemmCall call{Trans::No, Trans::Yes, m, n, k, 1.0f, x, x_stride, w, k, beta, y, y_stride, GemmInput::F32};
  if (w16 != nullptr) {
    auto* x16 = static_cast<__nv_bfloat16*>(workspace(kGemmInput, static_cast<size_t>(m * k) * 2));
    kernels::to_bf16(stream(), x, m, k, x_stride, x16);
    call.a = x16;
    call.lda = k;
    call.b = w16;
    call.input = GemmInput::BF16;
  }
  gemm_.run(call, stream());
}

void CudaBackend::linear(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                         Activation act, float* y, bool accumulate, int64_t x_stride, int64_t y_stride) {
  if (m <= 0 || n <= 0) return;
  const int64_t xs = x_stride ? x_stride : k, ys = y_stride ? y_stride : n;
  if (act == Activation::None) {
    // The GEMM writes (or, with beta 1, accumulates) straight into y; the bias follows in place.
    matmul_xwt(x, m, k, xs, w, n, y, ys, accumulate ? 1.0f : 0.0f);
    if (bias != nullptr) kernels::bias_act(stream(), y, ys, m, n, bias, Activation::None, false, y, ys);
    return;
  }
  auto* t = static_cast<float*>(workspace(kGemmOutput, static_cast<size_t>(m * n) * sizeof(float)));
  matmul_xwt(x, m, k, xs, w, n, t, n, 0.0f);
  kernels::bias_act(stream(), t, n, m, n, bias, act, accumulate, y, ys);
}

// ---- elementwise, norms, layout ---------------------------------------------------------

void CudaBackend::add_table(const float* table, int64_t rows, int64_t d, const float* t, int64_t t_rows, int64_t batch,
                            float* out) {
  kernels::add_table(stream(), table, rows, d, t, t_rows, batch, out);
}
void CudaBackend::add(float* x, const float* y, int64_t n) { kernels::add(stream(), x, y, n); }
void CudaBackend::add_bias(float* x, int64_t rows, int64_t cols, const float* bias) {
  kernels::add_bias(stream(), x, rows, cols, bias);
}
void CudaBackend::activate(Activation act, float* x, int64_t rows, int64_t cols, int64_t stride) {
  kernels::activate(stream(), act, x, rows, cols, stride);
}
void CudaBackend::layer_norm_modulate(const float* x, int64_t batch, int64_t tokens, int64_t d, float eps,
                                      const float* shift, const float* scale, int64_t mod_stride, float* y) {
  kernels::layer_norm_modulate(stream(), x, batch, tokens, d, eps, shift, scale, mod_stride, y);
}
void CudaBackend::rms_norm(const float* x, int64_t rows, int64_t d, int64_t x_stride, const float* weight, float eps,
                           float* y, int64_t y_stride) {
  kernels::rms_norm(stream(), x, rows, d, x_stride, weight, eps, y, y_stride);
}
void CudaBackend::gated_add(float* x, const float* y, const float* gate, int64_t mod_stride, int64_t batch,
                            int64_t tokens, int64_t d) {
  kernels::gated_add(stream(), x, y, gate, mod_stride, batch, tokens, d);
}
void CudaBackend::patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t p,
                           float* tokens) {
  kernels::patchify(stream(), x, batch, channels, height, width, p, tokens);
}
void CudaBackend::unpatchify(const float* tokens, int64_t batch, int64_t h, int64_t w, int64_t p, int64_t channels,
                             float* x) {
  kernels::unpatchify(stream(), tokens, batch, h, w, p, channels, x);
}

// ---- Sana blocks ------------------------------------------------------------------------

void CudaBackend::dwconv3x3_glu(const float* x, int64_t batch, int64_t h, int64_t w, int64_t half,
                                const float* weight, const float* bias, float* out) {
  kernels::dwconv3x3_glu(stream(), x, batch, h, w, half, weight, bias, out);
}

void CudaBackend::linear_attention(const float* q, const float* k, const float* v, int64_t stride, int64_t batch,
                                   int64_t tokens, int64_t heads, int64_t head_dim, const uint8_t* identity,
                                   float* out, int64_t out_stride) {
  const uint8_t* flags = stage(identity, batch);
  kernels::linear_attention(stream(), q, k, v, stride, batch, tokens, heads, head_dim, flags, out, out_stride);
}

void CudaBackend::softmax_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                                    int64_t kv_stride, const float* key_bias, const int64_t* kv_index, int64_t batch,
                                    int64_t nq, int64_t nk, int64_t heads, int64_t head_dim, float scale, float* out,
                                    int64_t out_stride) {
  const int64_t* index = stage(kv_index, batch);
  kernels::softmax_attention(stream(), q, q_stride, k, v, kv_stride, key_bias, index, batch, nq, nk, heads, head_dim,
                             scale, out, out_stride);
}

// ---- DC-AE ------------------------------------------------------------------------------

void CudaBackend::conv2d(const float* x, const Conv2dShape& shape, const float* weight, const float* bias,
                         Activation act, float* y) {
  const int64_t oh = shape.out_height(), ow = shape.out_width(), rows = shape.batch * oh * ow;
  if (rows <= 0 || shape.out_channels <= 0) return;
  const bool pointwise = shape.kernel == 1 && shape.stride == 1 && shape.upsample == 1 && shape.groups == 1;
  if (pointwise) {
    linear(x, rows, shape.in_channels, weight, shape.out_channels, bias, act, y, false, 0, 0);
    return;
  }
  if (shape.groups == 1) {
    conv2d_gemm(x, shape, weight, y);
    if (bias != nullptr || act != Activation::None)
      kernels::bias_act(stream(), y, shape.out_channels, rows, shape.out_channels, bias, act, false, y,
                        shape.out_channels);
    return;
  }
  check(find_bf16_weight(weight) == nullptr, "cuda conv2d: a grouped conv's weight must be float32 (plain upload)");
  kernels::conv2d_direct(stream(), x, shape, weight, bias, act, y);
}

// Bands of output rows, one image at a time: the columns of a whole 4K image would take
// tens of GB, a band a bounded workspace.
void CudaBackend::conv2d_gemm(const float* x, const Conv2dShape& shape, const float* weight, float* y) {
  constexpr int64_t kColumnBudget = int64_t{32} << 20;  // elements
  const int64_t oh = shape.out_height(), ow = shape.out_width();
  const int64_t k = shape.kernel * shape.kernel * shape.in_channels;
  const int64_t band = std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(ow * k, 1), 1, oh);
  const __nv_bfloat16* w16 = find_bf16_weight(weight);
  Conv2dShape one = shape;
  one.batch = 1;
  for (int64_t b = 0; b < shape.batch; ++b) {
    const float* xb = x + b * shape.height * shape.width * shape.in_channels;
    for (int64_t r0 = 0; r0 < oh; r0 += band) {
      const int64_t rows = std::min(band, oh - r0), m = rows * ow;
      float* yb = y + ((b * oh + r0) * ow) * shape.out_channels;
      GemmCall call{Trans::No, Trans::Yes, m, shape.out_channels, k, 1.0f, nullptr, k, weight, k, 0.0f, yb,
                    shape.out_channels, GemmInput::F32};
      if (w16 != nullptr) {
        auto* cols = static_cast<__nv_bfloat16*>(workspace(kColumns, static_cast<size_t>(m * k) * 2));
        kernels::im2col_bf16(stream(), xb, one, r0, rows, cols);
        call.a = cols;
        call.b = w16;
        call.input = GemmInput::BF16;
      } else {
        auto* cols = static_cast<float*>(workspace(kColumns, static_cast<size_t>(m * k) * sizeof(float)));
        kernels::im2col_f32(stream(), xb, one, r0, rows, cols);
        call.a = cols;
      }
      gemm_.run(call, stream());
    }
  }
}

void CudaBackend::depthwise_conv2d(const float* x, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                   int64_t kernel, const float* weight, const float* bias, float* y) {
  kernels::depthwise_conv2d(stream(), x, batch, height, width, channels, kernel, weight, bias, y);
}
void CudaBackend::rms_norm_affine(const float* x, int64_t rows, int64_t d, const float* weight, const float* bias,
                                  float eps, const float* residual, float* y) {
  kernels::rms_norm_affine(stream(), x, rows, d, weight, bias, eps, residual, y);
}
void CudaBackend::add_channel_repeat(const float* x, int64_t batch, int64_t height, int64_t width,
                                     int64_t in_channels, int64_t factor, int64_t out_channels, float* y) {
  kernels::add_channel_repeat(stream(), x, batch, height, width, in_channels, factor, out_channels, y);
}
void CudaBackend::add_channel_group_mean(const float* x, int64_t batch, int64_t height, int64_t width,
                                         int64_t in_channels, int64_t factor, int64_t out_channels, float* y) {
  kernels::add_channel_group_mean(stream(), x, batch, height, width, in_channels, factor, out_channels, y);
}
void CudaBackend::relu_group_attention(const float* qkv, int64_t qkv_stride, int64_t batch, int64_t tokens,
                                       int64_t groups, int64_t head_dim, bool quadratic, float* out,
                                       int64_t out_stride) {
  kernels::relu_group_attention(stream(), qkv, qkv_stride, batch, tokens, groups, head_dim, quadratic, out,
                                out_stride);
}
void CudaBackend::relu_attention_stats(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                                       int64_t head_dim, float* stats) {
  kernels::relu_attention_stats(stream(), qkv, qkv_stride, tokens, groups, head_dim, stats);
}
void CudaBackend::relu_attention_apply(const float* qkv, int64_t qkv_stride, int64_t tokens, int64_t groups,
                                       int64_t head_dim, const float* stats, float* out, int64_t out_stride) {
  kernels::relu_attention_apply(stream(), qkv, qkv_stride, tokens, groups, head_dim, stats, out, out_stride);
}

// ---- Gemma-2 ----------------------------------------------------------------------------

void CudaBackend::rope(float* x, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t stride,
                       const float* cos, const float* sin) {
  kernels::rope(stream(), x, batch, tokens, heads, head_dim, stride, cos, sin);
}
void CudaBackend::geglu(const float* x, int64_t rows, int64_t n, int64_t x_stride, float* out) {
  kernels::geglu(stream(), x, rows, n, x_stride, out);
}
void CudaBackend::causal_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                                   int64_t kv_stride, const float* key_valid, const CausalAttentionShape& shape,
                                   float* out, int64_t out_stride) {
  kernels::causal_attention(stream(), q, q_stride, k, v, kv_stride, key_valid, shape, out, out_stride);
}

std::unique_ptr<Backend> make_cuda_backend() {
  return std::make_unique<CudaBackend>(device_from_env(), gemm_mode_from_env());
}

}  // namespace sana::cuda
