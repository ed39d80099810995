// Convolutional building blocks shared by the UNet and the VAE decoder (diffusers 0.15
// ResnetBlock2D, Downsample2D, Upsample2D), parameter names as in diffusers.
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include "diffusion/layers.h"

namespace viscpm::diffusion {

struct ResnetSpec {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t temb_channels = 0;  // 0: no time embedding (VAE)
  int64_t groups = 32;
  double eps = 1e-5;
  double output_scale_factor = 1.0;
};

// h = conv1(SiLU(norm1(x))) [+ time_emb_proj(SiLU(temb))]; h = conv2(SiLU(norm2(h)));
// out = (shortcut(x) + h) / output_scale_factor. conv_shortcut (1x1) exists only when
// the channel count changes.
class ResnetBlock2DImpl : public viscpm::nn::Module {
 public:
  ResnetBlock2DImpl(const ResnetSpec& spec, const at::TensorOptions& options);
  // `temb`: the time embedding [B, temb_channels] BEFORE SiLU, or undefined for the VAE.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb = {}) const;

 private:
  ResnetSpec spec_;
  GroupNorm norm1_{nullptr}, norm2_{nullptr};
  Conv2d conv1_{nullptr}, conv2_{nullptr}, conv_shortcut_{nullptr};
  Linear time_emb_proj_{nullptr};
};
VISCPM_MODULE(ResnetBlock2D);

// Conv 3x3, stride 2, symmetric zero padding `padding` (UNet: 1; 0 pads right/bottom by one
// as diffusers does). Parameters under "conv".
class Downsample2DImpl : public viscpm::nn::Module {
 public:
  Downsample2DImpl(int64_t channels, int64_t padding, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Conv2d conv_{nullptr};
  int64_t padding_;
};
VISCPM_MODULE(Downsample2D);

// Nearest-neighbour x2, then Conv 3x3. bf16 is interpolated in fp32 as the reference does.
// Parameters under "conv".
class Upsample2DImpl : public viscpm::nn::Module {
 public:
  Upsample2DImpl(int64_t channels, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Conv2d conv_{nullptr};
};
VISCPM_MODULE(Upsample2D);

}  // namespace viscpm::diffusion
