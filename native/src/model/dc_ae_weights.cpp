#include "model/dc_ae_weights.h"

#include <string>

#include "sana/error.h"

namespace sana::dcae {

namespace {

Activation activation_named(const std::string& name) {
  if (name == "silu") return Activation::SiLU;
  if (name == "relu") return Activation::ReLU;
  fail("vae: unsupported activation \"" + name + "\"");
}

class Loader {
 public:
  Loader(const WeightSource& source, Backend& backend, size_t& bytes)
      : source_(source), backend_(backend), bytes_(bytes) {}

  Buffer put(const std::vector<float>& host) {
    Buffer buf = backend_.alloc(host.size());
    backend_.upload(buf.data(), host.data(), host.size());
    bytes_ += host.size() * sizeof(float);
    return buf;
  }

  // A GEMM weight (a groups == 1 conv or a Linear): the backend stores it in its GEMM format.
  Buffer matrix(const std::vector<float>& host) {
    bytes_ += host.size() * sizeof(float);
    return backend_.upload_weight(host.data(), host.size());
  }

  Buffer plain(const std::string& name, const Shape& shape) {
    const Tensor t = source_(name, shape);
    return put(std::vector<float>(t.data(), t.data() + t.numel()));
  }

  // Conv2d weight (out, in / groups, k, k) -> (out, k, k, in / groups).
  ConvWeights conv(const std::string& prefix, int64_t in, int64_t out, int64_t kernel, bool bias, int64_t groups = 1) {
    const int64_t cin_g = in / groups, taps = kernel * kernel;
    const Tensor t = source_(prefix + ".weight", {out, cin_g, kernel, kernel});
    std::vector<float> w(static_cast<size_t>(t.numel()));
    const float* src = t.data();
    for (int64_t o = 0; o < out; ++o)
      for (int64_t c = 0; c < cin_g; ++c)
        for (int64_t tap = 0; tap < taps; ++tap) w[(o * taps + tap) * cin_g + c] = src[(o * cin_g + c) * taps + tap];
    ConvWeights cw;
    // Grouped convs run as direct float32 kernels, which read the weight as it is.
    cw.w = groups == 1 ? matrix(w) : put(w);
    if (bias) cw.b = plain(prefix + ".bias", {out});
    cw.in = in;
    cw.out = out;
    cw.kernel = kernel;
    cw.groups = groups;
    return cw;
  }

  // Depthwise Conv2d weight (channels, 1, k, k) -> tap-major (k * k, channels).
  Buffer depthwise(const std::string& name, int64_t channels, int64_t kernel) {
    const int64_t taps = kernel * kernel;
    const Tensor t = source_(name, {channels, 1, kernel, kernel});
    std::vector<float> w(static_cast<size_t>(t.numel()));
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t tap = 0; tap < taps; ++tap) w[tap * channels + c] = t.data()[c * taps + tap];
    return put(w);
  }

  // A 1x1 Conv2d weight (out, in, 1, 1) as a Linear weight (out, in).
  Buffer pointwise(const std::string& name, int64_t in, int64_t out) { return matrix_named(name, {out, in, 1, 1}); }

  Buffer matrix_named(const std::string& name, const Shape& shape) {
    const Tensor t = source_(name, shape);
    return matrix(std::vector<float>(t.data(), t.data() + t.numel()));
  }

  NormWeights norm(const std::string& prefix, int64_t channels) {
    return {plain(prefix + ".weight", {channels}), plain(prefix + ".bias", {channels})};
  }

  ResBlockWeights res_block(const std::string& p, int64_t channels, const std::string& act) {
    ResBlockWeights r;
    r.conv1 = conv(p + ".conv1", channels, channels, 3, true);
    r.conv2 = conv(p + ".conv2", channels, channels, 3, false);
    r.norm = norm(p + ".norm", channels);
    r.act = activation_named(act);
    return r;
  }

  VitBlockWeights vit_block(const std::string& p, int64_t channels, int64_t head_dim,
                            const std::vector<int64_t>& kernels) {
    VitBlockWeights v;
    // SanaMultiscaleLinearAttention: heads = int(in_channels // head_dim * mult), mult 1.0.
    v.heads = channels / head_dim;
    v.inner = v.heads * head_dim;
    const std::string a = p + ".attn";
    std::vector<float> qkv;
    for (const char* proj : {"to_q", "to_k", "to_v"}) {
      const Tensor t = source_(a + "." + proj + ".weight", {v.inner, channels});
      qkv.insert(qkv.end(), t.data(), t.data() + t.numel());
    }
    v.qkv_w = matrix(qkv);
    for (size_t s = 0; s < kernels.size(); ++s) {
      const std::string m = a + ".to_qkv_multiscale." + std::to_string(s);
      MultiscaleWeights ms;
      ms.kernel = kernels[s];
      ms.proj_in = depthwise(m + ".proj_in.weight", 3 * v.inner, kernels[s]);
      ms.proj_out = conv(m + ".proj_out", 3 * v.inner, 3 * v.inner, 1, false, 3 * v.heads);
      v.scales.push_back(std::move(ms));
    }
    const int64_t cat = v.inner * static_cast<int64_t>(1 + kernels.size());
    v.out_w = matrix_named(a + ".to_out.weight", {channels, cat});
    v.attn_norm = norm(a + ".norm_out", channels);
    // GLUMBConv(expand_ratio=4): hidden = int(4 * in_channels).
    const std::string f = p + ".conv_out";
    v.hidden = 4 * channels;
    v.inv_w = pointwise(f + ".conv_inverted.weight", channels, 2 * v.hidden);
    v.inv_b = plain(f + ".conv_inverted.bias", {2 * v.hidden});
    v.dw_w = depthwise(f + ".conv_depth.weight", 2 * v.hidden, 3);
    v.dw_b = plain(f + ".conv_depth.bias", {2 * v.hidden});
    v.point_w = pointwise(f + ".conv_point.weight", v.hidden, channels);
    v.mlp_norm = norm(f + ".norm", channels);
    return v;
  }

  BlockWeights block(const std::string& p, const DcAeStage& s, int64_t head_dim) {
    if (s.block_type == "ResBlock") return res_block(p, s.channels, s.act_fn);
    return vit_block(p, s.channels, head_dim, s.multiscales);
  }

 private:
  const WeightSource& source_;
  Backend& backend_;
  size_t& bytes_;
};

}  // namespace

EncoderWeights load_encoder(const DcAeConfig& c, const WeightSource& source, Backend& backend, size_t& bytes) {
  Loader l(source, backend, bytes);
  EncoderWeights e;
  const std::vector<DcAeStage>& st = c.encoder;
  e.conv_in = l.conv("encoder.conv_in", c.in_channels, st.front().channels, 3, true);
  for (size_t i = 0; i < st.size(); ++i) {
    StageWeights s;
    s.channels = st[i].channels;
    const std::string p = "encoder.down_blocks." + std::to_string(i) + ".";
    for (int64_t j = 0; j < st[i].layers; ++j)
      s.blocks.push_back(l.block(p + std::to_string(j), st[i], c.attention_head_dim));
    if (i + 1 < st.size()) {
      // DCDownBlock2d(downsample=False): a stride-2 conv straight to the next width.
      s.has_resample = true;
      s.resample = l.conv(p + std::to_string(st[i].layers) + ".conv", st[i].channels, st[i + 1].channels, 3, true);
    }
    e.stages.push_back(std::move(s));
  }
  e.conv_out = l.conv("encoder.conv_out", st.back().channels, c.latent_channels, 3, true);
  return e;
}

DecoderWeights load_decoder(const DcAeConfig& c, const WeightSource& source, Backend& backend, size_t& bytes) {
  Loader l(source, backend, bytes);
  DecoderWeights d;
  const std::vector<DcAeStage>& st = c.decoder;
  d.conv_in = l.conv("decoder.conv_in", c.latent_channels, st.back().channels, 3, true);
  for (size_t i = 0; i < st.size(); ++i) {
    StageWeights s;
    s.channels = st[i].channels;
    const std::string p = "decoder.up_blocks." + std::to_string(i) + ".";
    int64_t index = 0;
    if (i + 1 < st.size()) {
      // DCUpBlock2d(interpolate=True): nearest 2x, then a 3x3 conv to this stage's width.
      s.has_resample = true;
      s.resample = l.conv(p + "0.conv", st[i + 1].channels, st[i].channels, 3, true);
      index = 1;
    }
    for (int64_t j = 0; j < st[i].layers; ++j)
      s.blocks.push_back(l.block(p + std::to_string(index + j), st[i], c.attention_head_dim));
    d.stages.push_back(std::move(s));
  }
  d.norm_out = l.norm("decoder.norm_out", st.front().channels);
  d.conv_out = l.conv("decoder.conv_out", st.front().channels, c.in_channels, 3, true);
  return d;
}

}  // namespace sana::dcae
