#include "diffusion/layers.h"

#include <ATen/ops/conv2d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>

namespace viscpm::diffusion {

at::Tensor new_parameter(viscpm::nn::Module& owner, const std::string& name, at::IntArrayRef shape,
                         const at::TensorOptions& options) {
  return owner.register_parameter(name, at::empty(shape, options), /*requires_grad=*/false);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                       const at::TensorOptions& options) {
  weight_ = new_parameter(*this, "weight", {out_features, in_features}, options);
  if (with_bias) bias_ = new_parameter(*this, "bias", {out_features}, options);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) const { return kernels::linear(x, weight_, bias_); }

Conv2dImpl::Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
                       const at::TensorOptions& options)
    : stride_(stride), padding_(padding) {
  weight_ = new_parameter(*this, "weight", {out_channels, in_channels, kernel, kernel}, options);
  bias_ = new_parameter(*this, "bias", {out_channels}, options);
}

at::Tensor Conv2dImpl::forward(const at::Tensor& x) const {
  return at::conv2d(x, weight_, bias_, {stride_, stride_}, {padding_, padding_});
}

GroupNormImpl::GroupNormImpl(int64_t groups, int64_t channels, double eps, const at::TensorOptions& options)
    : groups_(groups), eps_(eps) {
  weight_ = new_parameter(*this, "weight", {channels}, options);
  bias_ = new_parameter(*this, "bias", {channels}, options);
}

at::Tensor GroupNormImpl::forward(const at::Tensor& x) const {
  return kernels::group_norm(x, groups_, weight_, bias_, eps_, /*silu=*/false);
}

at::Tensor GroupNormImpl::forward_silu(const at::Tensor& x) const {
  return kernels::group_norm(x, groups_, weight_, bias_, eps_, /*silu=*/true);
}

LayerNormImpl::LayerNormImpl(int64_t width, double eps, const at::TensorOptions& options) : eps_(eps) {
  weight_ = new_parameter(*this, "weight", {width}, options);
  bias_ = new_parameter(*this, "bias", {width}, options);
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {weight_.size(0)}, weight_, bias_, eps_);
}

}  // namespace viscpm::diffusion
