// Leaf layers of the diffusion models (UNet, VAE, trans block). Each owns parameters named
// exactly like the PyTorch module it mirrors ("weight", "bias"), so a parent module's
// parameter names equal diffusers state-dict keys. Shapes, dtype and device are fixed at
// construction; forward() is const and thread-safe.
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <initializer_list>
#include <iterator>
#include <memory>

#include "kernels/ops.h"

namespace viscpm::diffusion {

// The attention kernel settings are the kernels' (kernels/ops.h); models name them here.
using kernels::AttentionKernel;
using kernels::AttentionMath;
using kernels::AttentionSettings;

// y = x W^T (+ b), W [out, in].
class LinearImpl : public viscpm::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }
  const at::Tensor& weight() const { return weight_; }
  const at::Tensor& bias() const { return bias_; }

 private:
  at::Tensor weight_, bias_;
};
VISCPM_MODULE(Linear);

// 2-D cross-correlation with bias, square kernel, zero padding.
class Conv2dImpl : public viscpm::nn::Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
             const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t in_channels() const { return weight_.size(1); }
  int64_t out_channels() const { return weight_.size(0); }

 private:
  at::Tensor weight_, bias_;
  int64_t stride_, padding_;
};
VISCPM_MODULE(Conv2d);

// Affine GroupNorm over NC... tensors (biased variance).
class GroupNormImpl : public viscpm::nn::Module {
 public:
  GroupNormImpl(int64_t groups, int64_t channels, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  // SiLU(GroupNorm(x)), one kernel call.
  at::Tensor forward_silu(const at::Tensor& x) const;

 private:
  at::Tensor weight_, bias_;
  int64_t groups_;
  double eps_;
};
VISCPM_MODULE(GroupNorm);

// Affine LayerNorm over the last axis.
class LayerNormImpl : public viscpm::nn::Module {
 public:
  LayerNormImpl(int64_t width, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  at::Tensor weight_, bias_;
  double eps_;
};
VISCPM_MODULE(LayerNorm);

// Parameters are created uninitialised (they are always overwritten by a checkpoint) and
// without autograd; `options` carries dtype and device.
at::Tensor new_parameter(viscpm::nn::Module& owner, const std::string& name, at::IntArrayRef shape,
                         const at::TensorOptions& options);

// Registers `child` as `<owner>.<path[0]>.<path[1]>...` creating plain holder modules for the
// intermediate names (diffusers keys such as "to_out.0" or "ff.net.0.proj").
template <class M>
M register_nested(viscpm::nn::Module& owner, std::initializer_list<const char*> path, M child) {
  viscpm::nn::Module* parent = &owner;
  auto it = path.begin();
  for (; std::next(it) != path.end(); ++it) {
    if (viscpm::nn::Module* found = parent->child(*it)) {
      parent = found;
    } else {
      parent = parent->register_module(*it, std::make_shared<viscpm::nn::Module>()).get();
    }
  }
  parent->register_module(*it, child);
  return child;
}

}  // namespace viscpm::diffusion
