#include "model/sana_dit_weights.h"

#include <cstring>
#include <string>

#include "sana/error.h"

namespace sana::dit {

namespace {

class Loader {
 public:
  Loader(const DitWeightSource& source, Backend& backend, size_t& bytes)
      : source_(source), backend_(backend), bytes_(bytes) {}

  Tensor host(const std::string& name, const Shape& shape) const {
    Tensor t = source_(name, shape);
    check(t.shape() == shape,
          "weight " + name + ": shape " + shape_str(t.shape()) + ", expected " + shape_str(shape));
    return t;
  }

  Buffer upload(const float* data, size_t n) {
    Buffer b = backend_.alloc(n);
    backend_.upload(b.data(), data, n);
    bytes_ += n * sizeof(float);
    return b;
  }

  Buffer get(const std::string& name, const Shape& shape) {
    const Tensor t = host(name, shape);
    return upload(t.data(), static_cast<size_t>(t.numel()));
  }

  // A Linear (or 1x1 conv) weight: only linear() reads it, so the backend stores it in its
  // GEMM format.
  Buffer matrix(const std::string& name, const Shape& shape) {
    const Tensor t = host(name, shape);
    bytes_ += static_cast<size_t>(t.numel()) * sizeof(float);
    return backend_.upload_weight(t.data(), static_cast<size_t>(t.numel()));
  }

  // Row-wise concatenation of weights (or biases) that feed one fused GEMM.
  Buffer concat(const std::vector<std::string>& names, const Shape& each, bool weight = false) {
    const size_t n = static_cast<size_t>(numel(each));
    std::vector<float> all(n * names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      const Tensor t = host(names[i], each);
      std::memcpy(all.data() + i * n, t.data(), n * sizeof(float));
    }
    if (!weight) return upload(all.data(), all.size());
    bytes_ += all.size() * sizeof(float);
    return backend_.upload_weight(all.data(), all.size());
  }

  MlpWeights mlp(const std::string& prefix, int64_t in, int64_t dim) {
    return {matrix(prefix + ".linear_1.weight", {dim, in}), get(prefix + ".linear_1.bias", {dim}),
            matrix(prefix + ".linear_2.weight", {dim, dim}), get(prefix + ".linear_2.bias", {dim})};
  }

 private:
  const DitWeightSource& source_;
  Backend& backend_;
  size_t& bytes_;
};

}  // namespace

Weights load_weights(const DitConfig& c, const DitWeightSource& source, Backend& backend) {
  Weights w;
  Loader ld(source, backend, w.bytes);
  const int64_t D = c.inner_dim(), X = c.cross_inner_dim(), H = c.mlp_hidden(), p = c.patch_size;

  w.patch_w = ld.matrix("patch_embed.proj.weight", {D, c.in_channels, p, p});
  w.patch_b = ld.get("patch_embed.proj.bias", {D});
  if (c.guidance_embeds) {
    w.timestep = ld.mlp("time_embed.timestep_embedder", 256, D);
    w.guidance = ld.mlp("time_embed.guidance_embedder", 256, D);
  } else {
    w.timestep = ld.mlp("time_embed.emb.timestep_embedder", 256, D);
  }
  w.adaln_w = ld.matrix("time_embed.linear.weight", {6 * D, D});
  w.adaln_b = ld.get("time_embed.linear.bias", {6 * D});
  w.cap1_w = ld.matrix("caption_projection.linear_1.weight", {D, c.caption_channels});
  w.cap1_b = ld.get("caption_projection.linear_1.bias", {D});
  w.cap2_w = ld.matrix("caption_projection.linear_2.weight", {D, D});
  w.cap2_b = ld.get("caption_projection.linear_2.bias", {D});
  w.cap_norm = ld.get("caption_norm.weight", {D});

  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string b = "transformer_blocks." + std::to_string(i) + ".";
    LayerWeights l;
    l.scale_shift_table = ld.get(b + "scale_shift_table", {6, D});
    l.qkv_w = ld.concat({b + "attn1.to_q.weight", b + "attn1.to_k.weight", b + "attn1.to_v.weight"}, {D, D}, true);
    if (c.attention_bias)
      l.qkv_b = ld.concat({b + "attn1.to_q.bias", b + "attn1.to_k.bias", b + "attn1.to_v.bias"}, {D});
    l.out_w = ld.matrix(b + "attn1.to_out.0.weight", {D, D});
    l.out_b = ld.get(b + "attn1.to_out.0.bias", {D});
    l.xq_w = ld.matrix(b + "attn2.to_q.weight", {X, D});
    l.xq_b = ld.get(b + "attn2.to_q.bias", {X});
    l.xkv_w = ld.concat({b + "attn2.to_k.weight", b + "attn2.to_v.weight"}, {X, D}, true);
    l.xkv_b = ld.concat({b + "attn2.to_k.bias", b + "attn2.to_v.bias"}, {X});
    l.xout_w = ld.matrix(b + "attn2.to_out.0.weight", {D, X});
    l.xout_b = ld.get(b + "attn2.to_out.0.bias", {D});
    if (c.qk_norm) {
      l.norm_q = ld.get(b + "attn1.norm_q.weight", {D});
      l.norm_k = ld.get(b + "attn1.norm_k.weight", {D});
      l.xnorm_q = ld.get(b + "attn2.norm_q.weight", {X});
      l.xnorm_k = ld.get(b + "attn2.norm_k.weight", {X});
    }
    l.inv_w = ld.matrix(b + "ff.conv_inverted.weight", {2 * H, D, 1, 1});
    l.inv_b = ld.get(b + "ff.conv_inverted.bias", {2 * H});
    {
      const Tensor dw = ld.host(b + "ff.conv_depth.weight", {2 * H, 1, 3, 3});
      std::vector<float> taps(static_cast<size_t>(9 * 2 * H));
      for (int64_t ch = 0; ch < 2 * H; ++ch)
        for (int64_t t = 0; t < 9; ++t) taps[t * 2 * H + ch] = dw.data()[ch * 9 + t];
      l.dw_w = ld.upload(taps.data(), taps.size());
    }
    l.dw_b = ld.get(b + "ff.conv_depth.bias", {2 * H});
    l.point_w = ld.matrix(b + "ff.conv_point.weight", {D, H, 1, 1});
    w.layers.push_back(std::move(l));
  }
  w.final_table = ld.get("scale_shift_table", {2, D});
  w.proj_w = ld.matrix("proj_out.weight", {p * p * c.out_channels, D});
  w.proj_b = ld.get("proj_out.bias", {p * p * c.out_channels});
  return w;
}

}  // namespace sana::dit
