#include "diffusion/transformer_2d.h"

#include <ATen/ops/gelu.h>

#include <cmath>

namespace viscpm::diffusion {

CrossAttentionImpl::CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim,
                                       bool upcast_attention, const AttentionSettings& settings,
                                       const at::TensorOptions& options)
    : heads_(heads), settings_(settings) {
  const int64_t inner = heads * head_dim;
  to_q_ = register_module("to_q", Linear(query_dim, inner, false, options));
  to_k_ = register_module("to_k", Linear(context_dim, inner, false, options));
  to_v_ = register_module("to_v", Linear(context_dim, inner, false, options));
  to_out_ = register_nested(*this, {"to_out", "0"}, Linear(inner, query_dim, true, options));
  math_.scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  math_.upcast_qk = upcast_attention;
}

at::Tensor CrossAttentionImpl::forward(const at::Tensor& x, const at::Tensor& context) const {
  const at::Tensor& kv_source = context.defined() ? context : x;
  at::Tensor q = kernels::heads_to_batch(to_q_->forward(x), heads_);
  at::Tensor k = kernels::heads_to_batch(to_k_->forward(kv_source), heads_);
  at::Tensor v = kernels::heads_to_batch(to_v_->forward(kv_source), heads_);
  at::Tensor o = kernels::batch_to_heads(kernels::sdp_attention(q, k, v, math_, settings_), heads_);
  return to_out_->forward(o);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, const at::TensorOptions& options) {
  proj_ = register_nested(*this, {"net", "0", "proj"}, Linear(dim, dim * 8, true, options));
  out_ = register_nested(*this, {"net", "2"}, Linear(dim * 4, dim, true, options));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) const {
  // GEGLU: first half is the value, second half the gate (exact GELU).
  return out_->forward(kernels::geglu(x, proj_->weight(), proj_->bias()));
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t context_dim, int64_t heads,
                                                     bool upcast_attention, const AttentionSettings& settings,
                                                     const at::TensorOptions& options) {
  const int64_t head_dim = dim / heads;
  norm1_ = register_module("norm1", LayerNorm(dim, 1e-5, options));
  attn1_ = register_module("attn1", CrossAttention(dim, dim, heads, head_dim, upcast_attention, settings, options));
  norm2_ = register_module("norm2", LayerNorm(dim, 1e-5, options));
  attn2_ = register_module("attn2",
                           CrossAttention(dim, context_dim, heads, head_dim, upcast_attention, settings, options));
  norm3_ = register_module("norm3", LayerNorm(dim, 1e-5, options));
  ff_ = register_module("ff", FeedForward(dim, options));
}

at::Tensor BasicTransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& context) const {
  at::Tensor h = attn1_->forward(norm1_->forward(x)) + x;
  h = attn2_->forward(norm2_->forward(h), context) + h;
  return ff_->forward(norm3_->forward(h)) + h;
}

Transformer2DImpl::Transformer2DImpl(const Transformer2DSpec& spec, const AttentionSettings& settings,
                                     const at::TensorOptions& options)
    : spec_(spec) {
  const int64_t c = spec.channels;
  norm_ = register_module("norm", GroupNorm(spec.groups, c, 1e-6, options));
  if (spec.use_linear_projection) {
    proj_in_ = register_module("proj_in", Linear(c, c, true, options));
  } else {
    conv_in_ = register_module("proj_in", Conv2d(c, c, 1, 1, 0, options));
  }
  block_ = register_nested(*this, {"transformer_blocks", "0"},
                           BasicTransformerBlock(c, spec.context_dim, spec.heads, spec.upcast_attention, settings,
                                                 options));
  if (spec.use_linear_projection) {
    proj_out_ = register_module("proj_out", Linear(c, c, true, options));
  } else {
    conv_out_ = register_module("proj_out", Conv2d(c, c, 1, 1, 0, options));
  }
}

at::Tensor Transformer2DImpl::forward(const at::Tensor& x, const at::Tensor& context) const {
  const int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  at::Tensor h = norm_->forward(x);
  // Tokens in row-major spatial order, channels last.
  if (spec_.use_linear_projection) {
    h = proj_in_->forward(h.permute({0, 2, 3, 1}).reshape({b, height * width, c}));
  } else {
    h = conv_in_->forward(h).permute({0, 2, 3, 1}).reshape({b, height * width, c});
  }
  h = block_->forward(h, context);
  if (spec_.use_linear_projection) {
    h = proj_out_->forward(h).reshape({b, height, width, c}).permute({0, 3, 1, 2}).contiguous();
  } else {
    h = conv_out_->forward(h.reshape({b, height, width, c}).permute({0, 3, 1, 2}).contiguous());
  }
  return h + x;
}

}  // namespace viscpm::diffusion
