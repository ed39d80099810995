#include "vision/multiway.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>

namespace viscpm::vision {

LinearLayerImpl::LinearLayerImpl(int64_t in_features, int64_t out_features, const at::TensorOptions& options) {
  weight_ = register_parameter("weight", at::empty({out_features, in_features}, options), /*requires_grad=*/false);
  bias_ = register_parameter("bias", at::empty({out_features}, options), /*requires_grad=*/false);
}

LayerNormLayerImpl::LayerNormLayerImpl(int64_t dim, double eps, const at::TensorOptions& options)
    : dim_(dim), eps_(eps) {
  weight_ = register_parameter("weight", at::empty({dim}, options), /*requires_grad=*/false);
  bias_ = register_parameter("bias", at::empty({dim}, options), /*requires_grad=*/false);
}

at::Tensor LayerNormLayerImpl::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {dim_}, weight_, bias_, eps_);
}

MultiwayLinearImpl::MultiwayLinearImpl(int64_t in_features, int64_t out_features, const at::TensorOptions& options) {
  a_ = register_module("A", LinearLayer(in_features, out_features, options));
  b_ = register_module("B", LinearLayer(in_features, out_features, options));
}

at::Tensor MultiwayLinearImpl::forward(const at::Tensor& x, int64_t split) const {
  return route_multiway(x, split, [&](const at::Tensor& t) { return a_->forward(t); },
                        [&](const at::Tensor& t) { return b_->forward(t); });
}

MultiwayLayerNormImpl::MultiwayLayerNormImpl(int64_t dim, double eps, const at::TensorOptions& options) {
  a_ = register_module("A", LayerNormLayer(dim, eps, options));
  b_ = register_module("B", LayerNormLayer(dim, eps, options));
}

at::Tensor MultiwayLayerNormImpl::forward(const at::Tensor& x, int64_t split) const {
  return route_multiway(x, split, [&](const at::Tensor& t) { return a_->forward(t); },
                        [&](const at::Tensor& t) { return b_->forward(t); });
}

at::Tensor gelu_fp32(const at::Tensor& x) {
  if (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) return at::gelu(x);
  return at::gelu(x.to(at::kFloat)).to(x.scalar_type());
}

}  // namespace viscpm::vision
