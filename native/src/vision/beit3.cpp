#include "vision/beit3.h"

#include "kernels/ops.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/softmax.h>

#include <string>

#include "common/error.h"

namespace viscpm::vision {

PatchProjectionImpl::PatchProjectionImpl(const Beit3Config& config, const at::TensorOptions& options)
    : patch_size_(config.patch_size) {
  const int64_t d = config.encoder_embed_dim, p = config.patch_size;
  weight_ = register_parameter("weight", at::empty({d, config.in_chans, p, p}, options), false);
  bias_ = register_parameter("bias", at::empty({d}, options), false);
}

at::Tensor PatchProjectionImpl::forward(const at::Tensor& pixel_values) const {
  // A stride-p p x p convolution is one GEMM over the flattened patches. Done as a linear
  // layer so that it follows the matmul precision settings: cuDNN convolutions default to
  // TF32 on Ampere+ GPUs, which would break float32 parity.
  const int64_t batch = pixel_values.size(0), channels = pixel_values.size(1), p = patch_size_;
  const int64_t rows = pixel_values.size(2) / p, cols = pixel_values.size(3) / p;
  auto patches = pixel_values.reshape({batch, channels, rows, p, cols, p})
                     .permute({0, 2, 4, 1, 3, 5})  // [B, rows, cols, C, p, p]
                     .reshape({batch, rows * cols, channels * p * p});
  return kernels::linear(patches, weight_.reshape({weight_.size(0), channels * p * p}), bias_);
}

VisionEmbeddingImpl::VisionEmbeddingImpl(const Beit3Config& config, const at::TensorOptions& options) {
  cls_token_ = register_parameter("cls_token", at::empty({1, 1, config.encoder_embed_dim}, options), false);
  proj_ = register_module("proj", PatchProjection(config, options));
}

at::Tensor VisionEmbeddingImpl::forward(const at::Tensor& pixel_values) const {
  auto patches = proj_->forward(pixel_values);  // [B, patches, D], token t = row * cols + col
  return at::cat({cls_token_.expand({patches.size(0), 1, cls_token_.size(2)}), patches}, 1);
}

PositionTableImpl::PositionTableImpl(int64_t rows, int64_t dim, const at::TensorOptions& options) {
  weight_ = register_parameter("weight", at::empty({rows, dim}, options), false);
}

at::Tensor PositionTableImpl::positions(int64_t count) const { return weight_.narrow(0, 2, count); }

PositionEmbeddingsImpl::PositionEmbeddingsImpl(const Beit3Config& config, const at::TensorOptions& options) {
  // torchscale sizes the vision table num_patches + 1 (cls) + 2 (fairseq offset).
  a_ = register_module("A", PositionTable(config.num_patches() + 3, config.encoder_embed_dim, options));
  b_ = register_module("B", PositionTable(config.max_source_positions, config.encoder_embed_dim, options));
}

at::Tensor PositionEmbeddingsImpl::forward(const at::Tensor& x, int64_t split) const {
  return route_multiway(x, split, [&](const at::Tensor& t) { return t + a_->positions(t.size(1)); },
                        [&](const at::Tensor& t) { return t + b_->positions(t.size(1)); });
}

SelfAttentionImpl::SelfAttentionImpl(const Beit3Config& config, const at::TensorOptions& options)
    : heads_(config.encoder_attention_heads),
      head_dim_(config.head_dim()),
      scaling_(1.0 / std::sqrt(static_cast<double>(config.head_dim()))) {
  const int64_t d = config.encoder_embed_dim;
  // Registration order follows torchscale (k, v, q, out); loading is by name anyway.
  k_proj_ = register_module("k_proj", MultiwayLinear(d, d, options));
  v_proj_ = register_module("v_proj", MultiwayLinear(d, d, options));
  q_proj_ = register_module("q_proj", MultiwayLinear(d, d, options));
  out_proj_ = register_module("out_proj", MultiwayLinear(d, d, options));
  inner_attn_ln_ = register_module("inner_attn_ln", MultiwayLayerNorm(d, config.layernorm_eps, options));
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, int64_t split) const {
  const int64_t batch = x.size(0), n = x.size(1), d = x.size(2);
  auto heads = [&](const at::Tensor& t) {  // [B, n, D] -> [B*H, n, d], head-major features
    return t.view({batch, n, heads_, head_dim_}).transpose(1, 2).reshape({batch * heads_, n, head_dim_});
  };
  // Scale q after its bias (torchscale: q *= head_dim ** -0.5), then q k^T.
  auto q = heads(q_proj_->forward(x, split) * scaling_);
  auto k = heads(k_proj_->forward(x, split));
  auto v = heads(v_proj_->forward(x, split));
  auto attn = kernels::beit3_attention(q, k, v).view({batch, heads_, n, head_dim_}).transpose(1, 2).reshape({batch, n, d});
  return out_proj_->forward(inner_attn_ln_->forward(attn, split), split);
}

FeedForwardImpl::FeedForwardImpl(const Beit3Config& config, const at::TensorOptions& options) {
  const int64_t d = config.encoder_embed_dim, f = config.encoder_ffn_embed_dim;
  fc1_ = register_module("fc1", LinearLayer(d, f, options));
  fc2_ = register_module("fc2", LinearLayer(f, d, options));
  ffn_layernorm_ = register_module("ffn_layernorm", LayerNormLayer(f, config.layernorm_eps, options));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) const {
  return fc2_->forward(ffn_layernorm_->forward(gelu_fp32(fc1_->forward(x))));
}

MultiwayFeedForwardImpl::MultiwayFeedForwardImpl(const Beit3Config& config, const at::TensorOptions& options) {
  a_ = register_module("A", FeedForward(config, options));
  b_ = register_module("B", FeedForward(config, options));
}

at::Tensor MultiwayFeedForwardImpl::forward(const at::Tensor& x, int64_t split) const {
  return route_multiway(x, split, [&](const at::Tensor& t) { return a_->forward(t); },
                        [&](const at::Tensor& t) { return b_->forward(t); });
}

EncoderLayerImpl::EncoderLayerImpl(const Beit3Config& config, const at::TensorOptions& options) {
  const int64_t d = config.encoder_embed_dim;
  self_attn_ = register_module("self_attn", SelfAttention(config, options));
  self_attn_layer_norm_ = register_module("self_attn_layer_norm", MultiwayLayerNorm(d, config.layernorm_eps, options));
  ffn_ = register_module("ffn", MultiwayFeedForward(config, options));
  final_layer_norm_ = register_module("final_layer_norm", MultiwayLayerNorm(d, config.layernorm_eps, options));
}

at::Tensor EncoderLayerImpl::forward(const at::Tensor& x, int64_t split) const {
  // Pre-LN residual blocks, residual scale 1 (no deepnorm).
  auto h = x + self_attn_->forward(self_attn_layer_norm_->forward(x, split), split);
  return h + ffn_->forward(final_layer_norm_->forward(h, split), split);
}

EncoderLayersImpl::EncoderLayersImpl(const Beit3Config& config, const at::TensorOptions& options) {
  for (int64_t i = 0; i < config.encoder_layers; ++i) {
    layers_.push_back(register_module(std::to_string(i), EncoderLayer(config, options)));
  }
}

EncoderImpl::EncoderImpl(const Beit3Config& config, const at::TensorOptions& options) {
  embed_positions_ = register_module("embed_positions", PositionEmbeddings(config, options));
  layers_ = register_module("layers", EncoderLayers(config, options));
  layer_norm_ = register_module("layer_norm", MultiwayLayerNorm(config.encoder_embed_dim, config.layernorm_eps, options));
}

at::Tensor EncoderImpl::forward(const at::Tensor& tokens, int64_t split) const {
  auto x = embed_positions_->forward(tokens, split);  // no embedding scale, no embedding LN
  for (const auto& layer : layers_->layers()) x = layer->forward(x, split);
  return layer_norm_->forward(x, split);
}

Beit3Impl::Beit3Impl(const Beit3Config& config, const at::TensorOptions& options) : config_(config) {
  vision_embed_ = register_module("vision_embed", VisionEmbedding(config, options));
  encoder_ = register_module("encoder", Encoder(config, options));
}

at::Tensor Beit3Impl::forward(const at::Tensor& pixel_values, const at::Tensor& queries) const {
  auto image_tokens = vision_embed_->forward(pixel_values);  // [B, 1 + patches, D]
  const int64_t batch = image_tokens.size(0), split = image_tokens.size(1), q = queries.size(0);
  auto tokens = at::cat({image_tokens, queries.unsqueeze(0).expand({batch, q, queries.size(1)})}, 1);
  return encoder_->forward(tokens, split).narrow(1, split, q);
}

}  // namespace viscpm::vision
