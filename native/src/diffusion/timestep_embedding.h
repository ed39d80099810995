// Sinusoidal timestep features and the TimestepEmbedding MLP of the UNet (diffusers 0.15
// get_timestep_embedding + TimestepEmbedding, "time_embedding.linear_{1,2}").
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include "diffusion/layers.h"

namespace viscpm::diffusion {

// timesteps [B] (any numeric dtype, converted to fp32 first) -> [B, dim] fp32.
// freq_i = exp(-ln(10000) * i / (dim/2 - freq_shift)); [sin | cos], swapped to [cos | sin]
// when flip_sin_to_cos.
at::Tensor timestep_sinusoid(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, int64_t freq_shift);

// linear_2(SiLU(linear_1(x))): in_dim -> out_dim -> out_dim.
class TimestepEmbeddingImpl : public viscpm::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_dim, int64_t out_dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Linear linear_1_{nullptr}, linear_2_{nullptr};
};
VISCPM_MODULE(TimestepEmbedding);

}  // namespace viscpm::diffusion
