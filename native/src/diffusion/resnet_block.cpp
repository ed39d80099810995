#include "diffusion/resnet_block.h"

#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/upsample_nearest2d.h>

namespace viscpm::diffusion {

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetSpec& spec, const at::TensorOptions& options) : spec_(spec) {
  norm1_ = register_module("norm1", GroupNorm(spec.groups, spec.in_channels, spec.eps, options));
  conv1_ = register_module("conv1", Conv2d(spec.in_channels, spec.out_channels, 3, 1, 1, options));
  if (spec.temb_channels > 0)
    time_emb_proj_ = register_module("time_emb_proj", Linear(spec.temb_channels, spec.out_channels, true, options));
  norm2_ = register_module("norm2", GroupNorm(spec.groups, spec.out_channels, spec.eps, options));
  conv2_ = register_module("conv2", Conv2d(spec.out_channels, spec.out_channels, 3, 1, 1, options));
  if (spec.in_channels != spec.out_channels)
    conv_shortcut_ = register_module("conv_shortcut", Conv2d(spec.in_channels, spec.out_channels, 1, 1, 0, options));
}

at::Tensor ResnetBlock2DImpl::forward(const at::Tensor& x, const at::Tensor& temb) const {
  at::Tensor h = conv1_->forward(norm1_->forward_silu(x));
  if (time_emb_proj_) {
    // Per-channel shift from the (already embedded) timestep.
    h = h + time_emb_proj_->forward(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2_->forward(norm2_->forward_silu(h));
  at::Tensor shortcut = conv_shortcut_ ? conv_shortcut_->forward(x) : x;
  at::Tensor out = shortcut + h;
  if (spec_.output_scale_factor != 1.0) out = out / spec_.output_scale_factor;
  return out;
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t padding, const at::TensorOptions& options)
    : padding_(padding) {
  conv_ = register_module("conv", Conv2d(channels, channels, 3, 2, padding, options));
}

at::Tensor Downsample2DImpl::forward(const at::Tensor& x) const {
  // diffusers: padding 0 means an asymmetric pad (right and bottom only) before the conv.
  if (padding_ == 0) return conv_->forward(at::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv_->forward(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, const at::TensorOptions& options) {
  conv_ = register_module("conv", Conv2d(channels, channels, 3, 1, 1, options));
}

at::Tensor Upsample2DImpl::forward(const at::Tensor& x) const {
  const auto dtype = x.scalar_type();
  at::Tensor h = dtype == at::kBFloat16 ? x.to(at::kFloat) : x;
  h = at::upsample_nearest2d(h, {x.size(2) * 2, x.size(3) * 2});
  if (dtype == at::kBFloat16) h = h.to(dtype);
  return conv_->forward(h);
}

}  // namespace viscpm::diffusion
