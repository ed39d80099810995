// Building blocks of the BEiT-3 encoder whose parameter names mirror the torchscale
// checkpoint keys, and the "multiway" pair: two copies (experts) of a module, `A` for the
// first `split` tokens of the sequence (cls + image patches) and `B` for the rest (the
// learned queries, which go through the language expert).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/linear.h>
#include "common/module.h"
#include "kernels/ops.h"

namespace viscpm::vision {

// weight [out, in], bias [out]:  x W^T + b.
class LinearLayerImpl : public viscpm::nn::Module {
 public:
  LinearLayerImpl(int64_t in_features, int64_t out_features, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const { return kernels::linear(x, weight_, bias_); }

 private:
  at::Tensor weight_, bias_;
};
VISCPM_MODULE(LinearLayer);

// LayerNorm over the last dimension with affine weight and bias (statistics in float32 for
// reduced-precision inputs, one rounding of the output).
class LayerNormLayerImpl : public viscpm::nn::Module {
 public:
  LayerNormLayerImpl(int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  int64_t dim_;
  double eps_;
  at::Tensor weight_, bias_;
};
VISCPM_MODULE(LayerNormLayer);

// Applies `a` to tokens [0, split) and `b` to tokens [split, n) of x [batch, n, ...] and
// concatenates the results along dimension 1.
template <class FA, class FB>
at::Tensor route_multiway(const at::Tensor& x, int64_t split, FA&& a, FB&& b) {
  const int64_t n = x.size(1);
  if (split >= n) return a(x);
  if (split <= 0) return b(x);
  return at::cat({a(x.narrow(1, 0, split)), b(x.narrow(1, split, n - split))}, 1);
}

class MultiwayLinearImpl : public viscpm::nn::Module {
 public:
  MultiwayLinearImpl(int64_t in_features, int64_t out_features, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, int64_t split) const;

 private:
  LinearLayer a_{nullptr}, b_{nullptr};
};
VISCPM_MODULE(MultiwayLinear);

class MultiwayLayerNormImpl : public viscpm::nn::Module {
 public:
  MultiwayLayerNormImpl(int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, int64_t split) const;

 private:
  LayerNormLayer a_{nullptr}, b_{nullptr};
};
VISCPM_MODULE(MultiwayLayerNorm);

// Exact (erf) GELU evaluated in float32, rounded once to x's dtype.
at::Tensor gelu_fp32(const at::Tensor& x);

}  // namespace viscpm::vision
