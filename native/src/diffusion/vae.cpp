#include "diffusion/vae.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/round.h>
#include <ATen/ops/silu.h>

#include <cmath>

#include "common/error.h"
#include "diffusion/vae_keys.h"
#include "io/tensor_source.h"
#include "common/tensor_text.h"

namespace viscpm::diffusion {

namespace {

constexpr double kVaeNormEps = 1e-6;  // every VAE group norm, whatever the config says

ResnetSpec vae_resnet(const VaeConfig& config, int64_t in_channels, int64_t out_channels) {
  ResnetSpec spec;
  spec.in_channels = in_channels;
  spec.out_channels = out_channels;
  spec.temb_channels = 0;
  spec.groups = config.norm_num_groups;
  spec.eps = kVaeNormEps;
  return spec;
}

}  // namespace

VaeAttentionImpl::VaeAttentionImpl(int64_t channels, int64_t groups, const AttentionSettings& settings,
                                   const at::TensorOptions& options)
    : settings_(settings) {
  group_norm_ = register_module("group_norm", GroupNorm(groups, channels, kVaeNormEps, options));
  query_ = register_module("query", Linear(channels, channels, true, options));
  key_ = register_module("key", Linear(channels, channels, true, options));
  value_ = register_module("value", Linear(channels, channels, true, options));
  proj_attn_ = register_module("proj_attn", Linear(channels, channels, true, options));
  math_.scale = 1.0 / std::sqrt(static_cast<double>(channels));  // one head of full width
  math_.upcast_softmax = true;
}

at::Tensor VaeAttentionImpl::forward(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  at::Tensor h = group_norm_->forward(x).view({b, c, height * width}).transpose(1, 2);
  at::Tensor o = kernels::sdp_attention(query_->forward(h), key_->forward(h), value_->forward(h), math_, settings_);
  o = proj_attn_->forward(o).transpose(-1, -2).reshape({b, c, height, width});
  return o + x;
}

VaeDecoderImpl::VaeDecoderImpl(const VaeConfig& config, const VaeOptions& options)
    : config_(config), options_(options) {
  config_.validate("vae config");
  options_.attention = options.attention.resolved_for(options.device);
  const auto o = at::TensorOptions().dtype(options.dtype).device(options.device);
  const auto& channels = config_.block_out_channels;
  const int64_t levels = config_.num_levels(), top = channels.back();

  post_quant_conv_ =
      register_module("post_quant_conv", Conv2d(config_.latent_channels, config_.latent_channels, 1, 1, 0, o));
  auto decoder = register_module("decoder", std::make_shared<viscpm::nn::Module>());
  conv_in_ = decoder->register_module("conv_in", Conv2d(config_.latent_channels, top, 3, 1, 1, o));
  mid_resnet0_ = register_nested(*decoder, {"mid_block", "resnets", "0"}, ResnetBlock2D(vae_resnet(config_, top, top), o));
  mid_attention_ = register_nested(*decoder, {"mid_block", "attentions", "0"},
                                   VaeAttention(top, config_.norm_num_groups, options_.attention, o));
  mid_resnet1_ = register_nested(*decoder, {"mid_block", "resnets", "1"}, ResnetBlock2D(vae_resnet(config_, top, top), o));

  // Up level k goes from channels[levels-k] (the previous level's output) to channels[levels-1-k].
  int64_t output_channels = top;
  for (int64_t k = 0; k < levels; ++k) {
    const int64_t prev = output_channels;
    output_channels = channels[levels - 1 - k];
    const std::string level = std::to_string(k);
    std::vector<ResnetBlock2D> resnets;
    for (int64_t j = 0; j < config_.layers_per_block + 1; ++j) {
      const std::string index = std::to_string(j);
      resnets.push_back(register_nested(*decoder, {"up_blocks", level.c_str(), "resnets", index.c_str()},
                                        ResnetBlock2D(vae_resnet(config_, j == 0 ? prev : output_channels,
                                                                 output_channels), o)));
    }
    up_resnets_.push_back(std::move(resnets));
    if (k < levels - 1)
      upsamplers_.push_back(register_nested(*decoder, {"up_blocks", level.c_str(), "upsamplers", "0"},
                                            Upsample2D(output_channels, o)));
  }
  conv_norm_out_ = decoder->register_module("conv_norm_out",
                                            GroupNorm(config_.norm_num_groups, channels[0], kVaeNormEps, o));
  conv_out_ = decoder->register_module("conv_out", Conv2d(channels[0], config_.out_channels, 3, 1, 1, o));
}

at::Tensor VaeDecoderImpl::decode(const at::Tensor& z_in) const {
  c10::InferenceMode inference;
  if (!z_in.defined() || z_in.dim() != 4 || z_in.size(1) != config_.latent_channels || z_in.size(0) == 0 ||
      z_in.size(2) == 0 || z_in.size(3) == 0)
    throw InvalidArgument("VAE latents must be [batch, " + std::to_string(config_.latent_channels) +
                          ", height, width] with positive sizes, got " +
                          (z_in.defined() ? shape_string(z_in.sizes()) : "none"));
  if (!at::isFloatingType(z_in.scalar_type())) throw InvalidArgument("VAE latents must be floating-point");
  at::Tensor h = post_quant_conv_->forward(z_in.to(options_.device, options_.dtype));
  h = conv_in_->forward(h);
  h = mid_resnet1_->forward(mid_attention_->forward(mid_resnet0_->forward(h)));
  for (size_t k = 0; k < up_resnets_.size(); ++k) {
    for (const auto& resnet : up_resnets_[k]) h = resnet->forward(h);
    if (k < upsamplers_.size()) h = upsamplers_[k]->forward(h);
  }
  return conv_out_->forward(conv_norm_out_->forward_silu(h));
}

at::Tensor VaeDecoderImpl::decode_latents(const at::Tensor& latents) const {
  c10::InferenceMode inference;
  // The reference multiplies by the reciprocal (a Python float applied as an fp32 scalar).
  const float inverse = static_cast<float>(1.0 / config_.scaling_factor);
  return decode(latents * inverse);
}

at::Tensor VaeDecoderImpl::to_image_float(const at::Tensor& sample) {
  c10::InferenceMode inference;
  at::Tensor x = sample.to(at::kFloat);
  return ((x / 2) + 0.5).clamp(0, 1).permute({0, 2, 3, 1});
}

at::Tensor VaeDecoderImpl::to_uint8(const at::Tensor& image_float) {
  c10::InferenceMode inference;
  return at::round(image_float.to(at::kFloat) * 255).to(at::kByte);
}

VaeDecoder load_vae_decoder(const VaeConfig& config, const io::TensorSource& weights, const VaeOptions& options) {
  c10::InferenceMode inference;
  VaeDecoder model(config, options);
  bool ldm = false;
  for (const auto& entry : weights.entries())
    if (starts_with(entry.name, kLdmVaePrefix)) ldm = true;
  RenamedTensorSource renamed(weights, [&](const std::string& key) -> std::optional<RenamedKey> {
    if (!ldm) return normalize_vae_key(config, key, false);
    if (!starts_with(key, kLdmVaePrefix)) return std::nullopt;  // UNet / text encoder of a full checkpoint
    return normalize_vae_key(config, key.substr(std::string(kLdmVaePrefix).size()), true);
  });
  io::LoadOptions load;
  load.ignored_prefixes = {"encoder.", "quant_conv."};
  io::load_module(*model, renamed, load);
  return model;
}

VaeDecoder load_vae_decoder(const std::filesystem::path& vae_dir, const VaeOptions& options) {
  if (!std::filesystem::is_directory(vae_dir)) throw NotFound("VAE folder not found: " + vae_dir.string());
  const VaeConfig config = VaeConfig::from_file(vae_dir / "config.json");
  std::filesystem::path weights = vae_dir / "diffusion_pytorch_model.safetensors";
  if (!std::filesystem::exists(weights)) weights = vae_dir / "diffusion_pytorch_model.bin";
  if (!std::filesystem::exists(weights))
    throw NotFound(vae_dir.string() + " holds neither diffusion_pytorch_model.safetensors nor .bin");
  auto source = io::TensorSource::open(weights);
  return load_vae_decoder(config, *source, options);
}

}  // namespace viscpm::diffusion
