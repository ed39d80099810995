// UNet2DConditionModel configuration (diffusers 0.15 `unet/config.json`), validated once at
// load time. Only what VisCPM-Paint's Stable Diffusion 2.1-base UNet family needs is
// supported; other architectures are rejected with Unsupported rather than run wrongly.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace viscpm::diffusion {

enum class DownBlockType { kCrossAttnDown, kDown };
enum class UpBlockType { kCrossAttnUp, kUp };

struct UnetConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  int64_t freq_shift = 0;
  std::vector<DownBlockType> down_block_types;
  std::vector<UpBlockType> up_block_types;
  std::vector<int64_t> block_out_channels;
  int64_t layers_per_block = 2;
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1024;
  // Heads per down level. diffusers 0.15 reads `attention_head_dim` as a head COUNT
  // (head width = channels / heads); newer files may carry `num_attention_heads` instead.
  std::vector<int64_t> attention_heads;
  bool use_linear_projection = true;
  bool upcast_attention = false;
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;
  int64_t sample_size = 64;

  // Derived.
  int64_t num_levels() const { return static_cast<int64_t>(block_out_channels.size()); }
  int64_t time_embed_dim() const { return block_out_channels.at(0) * 4; }
  // Spatial factor between the latent and the deepest level; latent sides must be multiples.
  int64_t downsampling_factor() const { return int64_t{1} << (num_levels() - 1); }
  int64_t up_heads(int64_t up_index) const { return attention_heads.at(num_levels() - 1 - up_index); }
  int64_t mid_heads() const { return attention_heads.back(); }

  // Parses a config object; FormatError names `origin` (a file path) and the bad field,
  // Unsupported names a valid but unimplemented option.
  static UnetConfig from_json(const nlohmann::json& config, const std::string& origin = "unet config");
  static UnetConfig from_file(const std::filesystem::path& path);
  // The public `stabilityai/stable-diffusion-2-1-base` unet/config.json.
  static UnetConfig sd21_base();
  void validate(const std::string& origin) const;
};

// Shared by the UNet and VAE config readers.
nlohmann::json read_json_config(const std::filesystem::path& path);

}  // namespace viscpm::diffusion
