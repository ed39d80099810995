#include "diffusion/unet_blocks.h"

#include <ATen/ops/cat.h>

#include <string>

namespace viscpm::diffusion {

namespace {

ResnetSpec unet_resnet(const UnetConfig& config, int64_t in_channels, int64_t out_channels,
                       double output_scale_factor = 1.0) {
  ResnetSpec spec;
  spec.in_channels = in_channels;
  spec.out_channels = out_channels;
  spec.temb_channels = config.time_embed_dim();
  spec.groups = config.norm_num_groups;
  spec.eps = config.norm_eps;
  spec.output_scale_factor = output_scale_factor;
  return spec;
}

Transformer2DSpec unet_transformer(const UnetConfig& config, int64_t channels, int64_t heads) {
  Transformer2DSpec spec;
  spec.channels = channels;
  spec.heads = heads;
  spec.context_dim = config.cross_attention_dim;
  spec.groups = config.norm_num_groups;
  spec.use_linear_projection = config.use_linear_projection;
  spec.upcast_attention = config.upcast_attention;
  return spec;
}

}  // namespace

UnetDownBlockImpl::UnetDownBlockImpl(const UnetBlockContext& ctx, int64_t in_channels, int64_t out_channels,
                                     int64_t heads, bool with_attention, bool with_downsample) {
  for (int64_t i = 0; i < ctx.config.layers_per_block; ++i) {
    const std::string index = std::to_string(i);
    resnets_.push_back(register_nested(
        *this, {"resnets", index.c_str()},
        ResnetBlock2D(unet_resnet(ctx.config, i == 0 ? in_channels : out_channels, out_channels), ctx.options)));
    if (with_attention)
      attentions_.push_back(register_nested(
          *this, {"attentions", index.c_str()},
          Transformer2D(unet_transformer(ctx.config, out_channels, heads), ctx.attention, ctx.options)));
  }
  if (with_downsample)
    downsampler_ = register_nested(*this, {"downsamplers", "0"},
                                   Downsample2D(out_channels, ctx.config.downsample_padding, ctx.options));
}

at::Tensor UnetDownBlockImpl::forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context,
                                      std::vector<at::Tensor>& skips) const {
  for (size_t i = 0; i < resnets_.size(); ++i) {
    h = resnets_[i]->forward(h, temb);
    if (!attentions_.empty()) h = attentions_[i]->forward(h, context);
    skips.push_back(h);
  }
  if (downsampler_) {
    h = downsampler_->forward(h);
    skips.push_back(h);
  }
  return h;
}

UnetMidBlockImpl::UnetMidBlockImpl(const UnetBlockContext& ctx, int64_t channels, int64_t heads) {
  const double scale = ctx.config.mid_block_scale_factor;
  resnet0_ = register_nested(*this, {"resnets", "0"},
                             ResnetBlock2D(unet_resnet(ctx.config, channels, channels, scale), ctx.options));
  attention_ = register_nested(*this, {"attentions", "0"},
                               Transformer2D(unet_transformer(ctx.config, channels, heads), ctx.attention, ctx.options));
  resnet1_ = register_nested(*this, {"resnets", "1"},
                             ResnetBlock2D(unet_resnet(ctx.config, channels, channels, scale), ctx.options));
}

at::Tensor UnetMidBlockImpl::forward(const at::Tensor& h, const at::Tensor& temb, const at::Tensor& context) const {
  return resnet1_->forward(attention_->forward(resnet0_->forward(h, temb), context), temb);
}

UnetUpBlockImpl::UnetUpBlockImpl(const UnetBlockContext& ctx, int64_t prev_output_channels, int64_t out_channels,
                                 int64_t skip_in_channels, int64_t heads, bool with_attention, bool with_upsample) {
  const int64_t layers = ctx.config.layers_per_block + 1;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string index = std::to_string(i);
    // The last ResNet of a level consumes the skip from the level above (its input channels).
    const int64_t skip_channels = i == layers - 1 ? skip_in_channels : out_channels;
    const int64_t resnet_in = (i == 0 ? prev_output_channels : out_channels) + skip_channels;
    resnets_.push_back(register_nested(*this, {"resnets", index.c_str()},
                                       ResnetBlock2D(unet_resnet(ctx.config, resnet_in, out_channels), ctx.options)));
    if (with_attention)
      attentions_.push_back(register_nested(
          *this, {"attentions", index.c_str()},
          Transformer2D(unet_transformer(ctx.config, out_channels, heads), ctx.attention, ctx.options)));
  }
  if (with_upsample)
    upsampler_ = register_nested(*this, {"upsamplers", "0"}, Upsample2D(out_channels, ctx.options));
}

at::Tensor UnetUpBlockImpl::forward(at::Tensor h, std::vector<at::Tensor>& skips, const at::Tensor& temb,
                                    const at::Tensor& context) const {
  for (size_t i = 0; i < resnets_.size(); ++i) {
    // h first, skip second; the skip is the most recently pushed tensor.
    at::Tensor skip = std::move(skips.back());
    skips.pop_back();
    h = resnets_[i]->forward(at::cat({h, skip}, 1), temb);
    if (!attentions_.empty()) h = attentions_[i]->forward(h, context);
  }
  if (upsampler_) h = upsampler_->forward(h);
  return h;
}

}  // namespace viscpm::diffusion
