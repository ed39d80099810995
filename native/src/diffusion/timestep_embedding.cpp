#include "diffusion/timestep_embedding.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/cos.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/sin.h>

#include <cmath>

namespace viscpm::diffusion {

at::Tensor timestep_sinusoid(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, int64_t freq_shift) {
  const int64_t half = dim / 2;
  auto fp32 = at::TensorOptions().dtype(at::kFloat).device(timesteps.device());
  // Same operation order as the reference (fp32 arange * -ln(10000), then / (half - shift)).
  at::Tensor exponent = at::arange(0, half, fp32) * (-std::log(10000.0));
  exponent = exponent / static_cast<double>(half - freq_shift);
  at::Tensor angles = timesteps.reshape({-1, 1}).to(at::kFloat) * at::exp(exponent).unsqueeze(0);
  at::Tensor emb = flip_sin_to_cos ? at::cat({at::cos(angles), at::sin(angles)}, -1)
                                   : at::cat({at::sin(angles), at::cos(angles)}, -1);
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1}, 0);
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_dim, int64_t out_dim, const at::TensorOptions& options) {
  linear_1_ = register_module("linear_1", Linear(in_dim, out_dim, true, options));
  linear_2_ = register_module("linear_2", Linear(out_dim, out_dim, true, options));
}

at::Tensor TimestepEmbeddingImpl::forward(const at::Tensor& x) const {
  return linear_2_->forward(at::silu(linear_1_->forward(x)));
}

}  // namespace viscpm::diffusion
