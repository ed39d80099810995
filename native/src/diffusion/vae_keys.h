// Key names of AutoencoderKL weight files: diffusers 0.15 ("query/key/value/proj_attn" in
// the mid-block attention), diffusers >= 0.17 ("to_q/to_k/to_v/to_out.0") and the original
// ldm layout ("first_stage_model." prefix, reversed decoder level numbering), all mapped to
// the 0.15 names this runtime's modules use (spec vae.md §4.4, §5).
#pragma once

#include <optional>
#include <string>

#include "diffusion/renamed_source.h"
#include "diffusion/vae_config.h"

namespace viscpm::diffusion {

inline constexpr const char* kLdmVaePrefix = "first_stage_model.";

// `ldm`: the key comes from an ldm checkpoint (prefix already removed). Keys that need no
// change are returned as they are; attention projections stored as 1x1 convs are squeezed.
RenamedKey normalize_vae_key(const VaeConfig& config, const std::string& key, bool ldm);

}  // namespace viscpm::diffusion
