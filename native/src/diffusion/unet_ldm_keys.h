// Name mapping between the original CompVis/Stability ("ldm") UNet state dict
// (model.diffusion_model.*) and the diffusers 0.15 names this runtime's UNet uses
// (spec unet.md §6.4). The block numbering depends on the configuration
// (layers_per_block, which levels have attention), so the mapping takes the config.
#pragma once

#include <optional>
#include <string>

#include "diffusion/unet_config.h"

namespace viscpm::diffusion {

inline constexpr const char* kLdmUnetPrefix = "model.diffusion_model.";

// Both take keys WITHOUT the "model.diffusion_model." prefix; nullopt when the key is not
// part of a UNet of this configuration.
std::optional<std::string> ldm_unet_key_to_diffusers(const UnetConfig& config, const std::string& ldm_key);
std::optional<std::string> diffusers_unet_key_to_ldm(const UnetConfig& config, const std::string& diffusers_key);

}  // namespace viscpm::diffusion
