// UNet2DConditionModel (diffusers 0.15; VisCPM-Paint runs the Stable Diffusion 2.1-base
// configuration). Parameter names equal the diffusers state-dict keys, so the "unet.*"
// part of viscpm_paint.pt loads strictly; original (ldm) checkpoints are renamed on load
// (unet_ldm_keys.h).
//
// Shapes, dtype, device and the attention kernel are fixed by load_unet(); forward() is
// const and may be called from several threads at once.
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "diffusion/timestep_embedding.h"
#include "diffusion/unet_blocks.h"
#include "diffusion/unet_config.h"

namespace viscpm::io { class TensorSource; }

namespace viscpm::diffusion {

struct UnetOptions {
  at::ScalarType dtype = at::kFloat;  // parameter and activation dtype (reference: fp32)
  at::Device device = at::kCPU;
  AttentionSettings attention;        // kAuto: fused on CUDA, reference elsewhere
};

class UnetModelImpl : public viscpm::nn::Module {
 public:
  UnetModelImpl(const UnetConfig& config, const UnetOptions& options);

  // sample [B, in_channels, h, w] (h, w multiples of config().downsampling_factor());
  // timestep: a scalar or [B] (integer or float, converted to fp32 as the reference does);
  // context [B, L, cross_attention_dim]. Returns the noise prediction [B, out_channels, h, w]
  // in the model dtype on the model device. Inputs are moved to the model dtype/device.
  // Bad shapes raise InvalidArgument.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep, const at::Tensor& context) const;

  const UnetConfig& config() const { return config_; }
  at::ScalarType dtype() const { return options_.dtype; }
  at::Device device() const { return options_.device; }
  const AttentionSettings& attention() const { return options_.attention; }

 private:
  UnetConfig config_;
  UnetOptions options_;
  Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  TimestepEmbedding time_embedding_{nullptr};
  std::vector<UnetDownBlock> down_blocks_;
  UnetMidBlock mid_block_{nullptr};
  std::vector<UnetUpBlock> up_blocks_;
  GroupNorm conv_norm_out_{nullptr};
};
VISCPM_MODULE(UnetModel);

enum class UnetKeyLayout {
  kAuto,       // ldm if the file has "model.diffusion_model.*" keys, else diffusers
  kDiffusers,  // diffusers names under `prefix`
  kLdm,        // original CompVis/Stability names under "model.diffusion_model."
};

struct UnetLoadOptions {
  UnetOptions model;
  UnetKeyLayout layout = UnetKeyLayout::kAuto;
  // diffusers layout: key prefix; nullopt = "unet." when the file has such keys (VisCPM-Paint
  // checkpoint), else "" (a diffusers unet/diffusion_pytorch_model.* file).
  std::optional<std::string> prefix;
};

// Builds the model from `config` and loads every parameter strictly from `weights`
// (missing, unexpected or mis-shaped keys raise FormatError naming them).
UnetModel load_unet(const UnetConfig& config, const io::TensorSource& weights, const UnetLoadOptions& options = {});
UnetModel load_unet(const std::filesystem::path& config_json, const std::filesystem::path& weights_file,
                    const UnetLoadOptions& options = {});

}  // namespace viscpm::diffusion
