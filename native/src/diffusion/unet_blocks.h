// Down, mid and up blocks of UNet2DConditionModel (diffusers 0.15 CrossAttnDownBlock2D /
// DownBlock2D, UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D / UpBlock2D).
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <vector>

#include "diffusion/resnet_block.h"
#include "diffusion/transformer_2d.h"
#include "diffusion/unet_config.h"

namespace viscpm::diffusion {

// Everything a block needs besides its channel counts; filled once from the config.
struct UnetBlockContext {
  const UnetConfig& config;
  AttentionSettings attention;
  at::TensorOptions options;
};

// `layers` x [ResNet (+ Transformer2D)], then an optional stride-2 Downsample2D.
// Pushes every intermediate output onto `skips` (the UNet's skip stack).
class UnetDownBlockImpl : public viscpm::nn::Module {
 public:
  UnetDownBlockImpl(const UnetBlockContext& ctx, int64_t in_channels, int64_t out_channels, int64_t heads,
                    bool with_attention, bool with_downsample);
  at::Tensor forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context,
                     std::vector<at::Tensor>& skips) const;

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2D> attentions_;
  Downsample2D downsampler_{nullptr};
};
VISCPM_MODULE(UnetDownBlock);

// ResNet -> Transformer2D -> ResNet.
class UnetMidBlockImpl : public viscpm::nn::Module {
 public:
  UnetMidBlockImpl(const UnetBlockContext& ctx, int64_t channels, int64_t heads);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& temb, const at::Tensor& context) const;

 private:
  ResnetBlock2D resnet0_{nullptr}, resnet1_{nullptr};
  Transformer2D attention_{nullptr};
};
VISCPM_MODULE(UnetMidBlock);

// (layers + 1) x [concat(h, skips.pop()) -> ResNet (+ Transformer2D)], then an optional
// nearest x2 Upsample2D.
class UnetUpBlockImpl : public viscpm::nn::Module {
 public:
  UnetUpBlockImpl(const UnetBlockContext& ctx, int64_t prev_output_channels, int64_t out_channels,
                  int64_t skip_in_channels, int64_t heads, bool with_attention, bool with_upsample);
  at::Tensor forward(at::Tensor h, std::vector<at::Tensor>& skips, const at::Tensor& temb,
                     const at::Tensor& context) const;

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2D> attentions_;
  Upsample2D upsampler_{nullptr};
};
VISCPM_MODULE(UnetUpBlock);

}  // namespace viscpm::diffusion
