#include "diffusion/unet.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/silu.h>

#include "common/error.h"
#include "diffusion/renamed_source.h"
#include "diffusion/unet_ldm_keys.h"
#include "io/tensor_source.h"
#include "common/tensor_text.h"

namespace viscpm::diffusion {

namespace {

}  // namespace

UnetModelImpl::UnetModelImpl(const UnetConfig& config, const UnetOptions& options)
    : config_(config), options_(options) {
  config_.validate("unet config");
  options_.attention = options.attention.resolved_for(options.device);
  const auto tensor_options = at::TensorOptions().dtype(options.dtype).device(options.device);
  const UnetBlockContext ctx{config_, options_.attention, tensor_options};
  const auto& channels = config_.block_out_channels;
  const int64_t levels = config_.num_levels();

  conv_in_ = register_module(
      "conv_in", Conv2d(config_.in_channels, channels[0], config_.conv_in_kernel, 1, (config_.conv_in_kernel - 1) / 2,
                        tensor_options));
  time_embedding_ =
      register_module("time_embedding", TimestepEmbedding(channels[0], config_.time_embed_dim(), tensor_options));

  int64_t output_channels = channels[0];
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t input_channels = output_channels;
    output_channels = channels[i];
    const std::string index = std::to_string(i);
    down_blocks_.push_back(register_nested(
        *this, {"down_blocks", index.c_str()},
        UnetDownBlock(ctx, input_channels, output_channels, config_.attention_heads[i],
                      config_.down_block_types[i] == DownBlockType::kCrossAttnDown, /*with_downsample=*/i < levels - 1)));
  }
  mid_block_ = register_module("mid_block", UnetMidBlock(ctx, channels.back(), config_.mid_heads()));

  // Up level k mirrors down level levels-1-k; its last ResNet takes the skip of the level above.
  output_channels = channels.back();
  for (int64_t k = 0; k < levels; ++k) {
    const int64_t prev_output_channels = output_channels;
    output_channels = channels[levels - 1 - k];
    const int64_t skip_in_channels = channels[std::max<int64_t>(levels - 2 - k, 0)];
    const std::string index = std::to_string(k);
    up_blocks_.push_back(register_nested(
        *this, {"up_blocks", index.c_str()},
        UnetUpBlock(ctx, prev_output_channels, output_channels, skip_in_channels, config_.up_heads(k),
                    config_.up_block_types[k] == UpBlockType::kCrossAttnUp, /*with_upsample=*/k < levels - 1)));
  }
  conv_norm_out_ =
      register_module("conv_norm_out", GroupNorm(config_.norm_num_groups, channels[0], config_.norm_eps, tensor_options));
  conv_out_ = register_module("conv_out", Conv2d(channels[0], config_.out_channels, config_.conv_out_kernel, 1,
                                                 (config_.conv_out_kernel - 1) / 2, tensor_options));
}

at::Tensor UnetModelImpl::forward(const at::Tensor& sample_in, const at::Tensor& timestep,
                                  const at::Tensor& context_in) const {
  c10::InferenceMode inference;
  if (!sample_in.defined() || sample_in.dim() != 4 || sample_in.size(1) != config_.in_channels)
    throw InvalidArgument("UNet sample must be [batch, " + std::to_string(config_.in_channels) +
                          ", height, width], got " + (sample_in.defined() ? shape_string(sample_in.sizes()) : "none"));
  if (!at::isFloatingType(sample_in.scalar_type()))
    throw InvalidArgument("UNet sample must be a floating-point tensor");
  const int64_t batch = sample_in.size(0), factor = config_.downsampling_factor();
  if (batch == 0 || sample_in.size(2) == 0 || sample_in.size(3) == 0 || sample_in.size(2) % factor != 0 ||
      sample_in.size(3) % factor != 0)
    throw InvalidArgument("UNet sample height and width must be positive multiples of " + std::to_string(factor) +
                          " (image sides multiples of " + std::to_string(factor) + " x the VAE factor), got " +
                          shape_string(sample_in.sizes()));
  if (!context_in.defined() || context_in.dim() != 3 || context_in.size(0) != batch || context_in.size(1) == 0 ||
      context_in.size(2) != config_.cross_attention_dim)
    throw InvalidArgument("UNet encoder_hidden_states must be [" + std::to_string(batch) + ", tokens, " +
                          std::to_string(config_.cross_attention_dim) + "] (cross_attention_dim), got " +
                          (context_in.defined() ? shape_string(context_in.sizes()) : "none"));
  if (!timestep.defined() || timestep.dim() > 1 || (timestep.numel() != 1 && timestep.numel() != batch))
    throw InvalidArgument("UNet timestep must be a scalar or hold one value per batch row (" + std::to_string(batch) +
                          "), got " + (timestep.defined() ? shape_string(timestep.sizes()) : "none"));

  at::Tensor sample = sample_in.to(options_.device, options_.dtype);
  at::Tensor context = context_in.to(options_.device, options_.dtype);
  at::Tensor timesteps = timestep.to(options_.device).reshape({-1}).expand({batch});

  // The sinusoid is always fp32, then cast to the model dtype.
  at::Tensor t_emb = timestep_sinusoid(timesteps, config_.block_out_channels[0], config_.flip_sin_to_cos,
                                       config_.freq_shift)
                         .to(options_.dtype);
  at::Tensor emb = time_embedding_->forward(t_emb);

  if (config_.center_input_sample) sample = 2 * sample - 1.0;
  at::Tensor h = conv_in_->forward(sample);
  std::vector<at::Tensor> skips{h};
  for (const auto& block : down_blocks_) h = block->forward(h, emb, context, skips);
  h = mid_block_->forward(h, emb, context);
  for (const auto& block : up_blocks_) h = block->forward(h, skips, emb, context);
  return conv_out_->forward(conv_norm_out_->forward_silu(h));
}

UnetModel load_unet(const UnetConfig& config, const io::TensorSource& weights, const UnetLoadOptions& options) {
  c10::InferenceMode inference;
  UnetModel model(config, options.model);

  UnetKeyLayout layout = options.layout;
  if (layout == UnetKeyLayout::kAuto) {
    layout = UnetKeyLayout::kDiffusers;
    for (const auto& entry : weights.entries())
      if (starts_with(entry.name, kLdmUnetPrefix)) layout = UnetKeyLayout::kLdm;
  }
  if (layout == UnetKeyLayout::kLdm) {
    // Keys that do not map keep their original name, so strict loading reports them.
    RenamedTensorSource renamed(weights, [&](const std::string& key) -> std::optional<RenamedKey> {
      if (!starts_with(key, kLdmUnetPrefix)) return std::nullopt;
      auto mapped = ldm_unet_key_to_diffusers(config, key.substr(std::string(kLdmUnetPrefix).size()));
      return RenamedKey{mapped ? *mapped : key};
    });
    io::LoadOptions load;
    io::load_module(*model, renamed, load);
    return model;
  }

  io::LoadOptions load;
  if (options.prefix) {
    load.prefix = *options.prefix;
  } else {
    for (const auto& entry : weights.entries())
      if (starts_with(entry.name, "unet.")) load.prefix = "unet.";
  }
  io::load_module(*model, weights, load);
  return model;
}

UnetModel load_unet(const std::filesystem::path& config_json, const std::filesystem::path& weights_file,
                    const UnetLoadOptions& options) {
  auto source = io::TensorSource::open(weights_file);
  return load_unet(UnetConfig::from_file(config_json), *source, options);
}

}  // namespace viscpm::diffusion
