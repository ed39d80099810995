// Spatial transformer of the UNet (diffusers 0.15 Transformer2DModel with one
// BasicTransformerBlock: self-attention, cross-attention to the text context, GEGLU FFN).
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include "kernels/ops.h"
#include "diffusion/layers.h"

namespace viscpm::diffusion {

// Multi-head attention with to_q/to_k/to_v (no bias) and to_out.0 (with bias).
class CrossAttentionImpl : public viscpm::nn::Module {
 public:
  CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim, bool upcast_attention,
                     const AttentionSettings& settings, const at::TensorOptions& options);
  // context undefined: self-attention.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context = {}) const;

 private:
  Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr}, to_out_{nullptr};
  int64_t heads_;
  AttentionMath math_;
  AttentionSettings settings_;
};
VISCPM_MODULE(CrossAttention);

// ff.net.0.proj: Linear C -> 8C (value half, then gate half); ff.net.2: Linear 4C -> C.
class FeedForwardImpl : public viscpm::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Linear proj_{nullptr}, out_{nullptr};
};
VISCPM_MODULE(FeedForward);

class BasicTransformerBlockImpl : public viscpm::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t context_dim, int64_t heads, bool upcast_attention,
                            const AttentionSettings& settings, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;

 private:
  LayerNorm norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr};
  CrossAttention attn1_{nullptr}, attn2_{nullptr};
  FeedForward ff_{nullptr};
};
VISCPM_MODULE(BasicTransformerBlock);

struct Transformer2DSpec {
  int64_t channels = 0;
  int64_t heads = 1;
  int64_t context_dim = 0;
  int64_t groups = 32;
  bool use_linear_projection = true;  // false: proj_in/proj_out are 1x1 convs (SD 1.x)
  bool upcast_attention = false;
};

// x + proj_out(block(proj_in(GN_1e-6(x) as tokens), context)) reshaped back to NCHW.
class Transformer2DImpl : public viscpm::nn::Module {
 public:
  Transformer2DImpl(const Transformer2DSpec& spec, const AttentionSettings& settings,
                    const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;

 private:
  Transformer2DSpec spec_;
  GroupNorm norm_{nullptr};
  Linear proj_in_{nullptr}, proj_out_{nullptr};
  Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  BasicTransformerBlock block_{nullptr};
};
VISCPM_MODULE(Transformer2D);

}  // namespace viscpm::diffusion
