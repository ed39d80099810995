// AutoencoderKL decoder (diffusers 0.15; Stable Diffusion 2.1-base VAE): post_quant_conv +
// decoder, and the reference's latent scaling and uint8 conversion. Parameter names are
// the diffusers 0.15 keys (mid-block attention "query/key/value/proj_attn"); newer
// diffusers names (to_q/to_k/to_v/to_out.0) and original ldm keys (first_stage_model.*)
// are renamed at load. The encoder is not part of this runtime (text-to-image never uses it).
//
// Shapes, dtype, device and the attention kernel are fixed at load; the methods are const
// and thread-safe.
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <filesystem>
#include <vector>

#include "kernels/ops.h"
#include "diffusion/layers.h"
#include "diffusion/resnet_block.h"
#include "diffusion/vae_config.h"

namespace viscpm::io { class TensorSource; }

namespace viscpm::diffusion {

struct VaeOptions {
  at::ScalarType dtype = at::kFloat;  // reference: fp32
  at::Device device = at::kCPU;
  AttentionSettings attention;
};

// Single-head self-attention over all pixels (diffusers 0.15 AttentionBlock); the softmax
// is evaluated in fp32 whatever the model dtype.
class VaeAttentionImpl : public viscpm::nn::Module {
 public:
  VaeAttentionImpl(int64_t channels, int64_t groups, const AttentionSettings& settings,
                   const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  GroupNorm group_norm_{nullptr};
  Linear query_{nullptr}, key_{nullptr}, value_{nullptr}, proj_attn_{nullptr};
  AttentionMath math_;
  AttentionSettings settings_;
};
VISCPM_MODULE(VaeAttention);

class VaeDecoderImpl : public viscpm::nn::Module {
 public:
  VaeDecoderImpl(const VaeConfig& config, const VaeOptions& options);

  // z [B, latent_channels, h, w], already divided by the scaling factor ->
  // image [B, out_channels, f*h, f*w] in nominal range [-1, 1] (model dtype/device).
  at::Tensor decode(const at::Tensor& z) const;
  // The pipeline's step: decode(latents * fp32(1 / scaling_factor)).
  at::Tensor decode_latents(const at::Tensor& latents) const;

  // clamp(sample / 2 + 0.5, 0, 1) as fp32 NHWC.
  static at::Tensor to_image_float(const at::Tensor& sample);
  // round_half_even(image_float * 255) as uint8 (same device).
  static at::Tensor to_uint8(const at::Tensor& image_float);

  const VaeConfig& config() const { return config_; }
  at::ScalarType dtype() const { return options_.dtype; }
  at::Device device() const { return options_.device; }

 private:
  VaeConfig config_;
  VaeOptions options_;
  Conv2d post_quant_conv_{nullptr}, conv_in_{nullptr}, conv_out_{nullptr};
  ResnetBlock2D mid_resnet0_{nullptr}, mid_resnet1_{nullptr};
  VaeAttention mid_attention_{nullptr};
  std::vector<std::vector<ResnetBlock2D>> up_resnets_;
  std::vector<Upsample2D> upsamplers_;  // one per level but the last
  GroupNorm conv_norm_out_{nullptr};
};
VISCPM_MODULE(VaeDecoder);

// Loads post_quant_conv.* and decoder.* strictly (encoder.* and quant_conv.* are skipped).
VaeDecoder load_vae_decoder(const VaeConfig& config, const io::TensorSource& weights, const VaeOptions& options = {});
// A diffusers "vae" folder: config.json + diffusion_pytorch_model.safetensors (preferred,
// as diffusers does) or diffusion_pytorch_model.bin.
VaeDecoder load_vae_decoder(const std::filesystem::path& vae_dir, const VaeOptions& options = {});

}  // namespace viscpm::diffusion
