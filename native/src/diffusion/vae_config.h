// AutoencoderKL configuration (diffusers 0.15 `vae/config.json`); only the decoder side is
// used at inference. Validated once at load time.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace viscpm::diffusion {

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels;
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;  // diffusers default when the file does not set it
  int64_t sample_size = 768;

  int64_t num_levels() const { return static_cast<int64_t>(block_out_channels.size()); }
  // Latent -> image spatial factor: 2^(levels - 1).
  int64_t upsampling_factor() const { return int64_t{1} << (num_levels() - 1); }

  static VaeConfig from_json(const nlohmann::json& config, const std::string& origin = "vae config");
  static VaeConfig from_file(const std::filesystem::path& path);
  static VaeConfig sd21_base();  // stabilityai/stable-diffusion-2-1-base vae/config.json
  void validate(const std::string& origin) const;
};

}  // namespace viscpm::diffusion
