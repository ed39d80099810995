#include "diffusion/unet_ldm_keys.h"

#include <utility>
#include <vector>

namespace viscpm::diffusion {

namespace {

struct BlockName {
  std::string ldm;
  std::string diffusers;
  bool resnet;  // inner names differ (in_layers.0 -> norm1, ...)
};

// ldm ResBlock member -> diffusers ResnetBlock2D member.
const std::vector<std::pair<std::string, std::string>>& resnet_members() {
  static const std::vector<std::pair<std::string, std::string>> members = {
      {"in_layers.0", "norm1"},   {"in_layers.2", "conv1"},  {"emb_layers.1", "time_emb_proj"},
      {"out_layers.0", "norm2"},  {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"},
  };
  return members;
}

std::vector<BlockName> block_table(const UnetConfig& config) {
  std::vector<BlockName> t;
  auto add = [&](std::string ldm, std::string diffusers, bool resnet) {
    t.push_back({std::move(ldm), std::move(diffusers), resnet});
  };
  const int64_t levels = config.num_levels(), per_level = config.layers_per_block + 1;
  auto s = [](int64_t v) { return std::to_string(v); };

  add("time_embed.0", "time_embedding.linear_1", false);
  add("time_embed.2", "time_embedding.linear_2", false);
  add("input_blocks.0.0", "conv_in", false);
  for (int64_t i = 0; i < levels; ++i) {
    const bool attention = config.down_block_types[i] == DownBlockType::kCrossAttnDown;
    for (int64_t j = 0; j < config.layers_per_block; ++j) {
      const std::string n = s(1 + i * per_level + j);
      add("input_blocks." + n + ".0", "down_blocks." + s(i) + ".resnets." + s(j), true);
      if (attention) add("input_blocks." + n + ".1", "down_blocks." + s(i) + ".attentions." + s(j), false);
    }
    if (i < levels - 1)
      add("input_blocks." + s((i + 1) * per_level) + ".0.op", "down_blocks." + s(i) + ".downsamplers.0.conv", false);
  }
  add("middle_block.0", "mid_block.resnets.0", true);
  add("middle_block.1", "mid_block.attentions.0", false);
  add("middle_block.2", "mid_block.resnets.1", true);
  for (int64_t i = 0; i < levels; ++i) {
    const bool attention = config.up_block_types[i] == UpBlockType::kCrossAttnUp;
    for (int64_t j = 0; j < per_level; ++j) {
      const std::string n = s(i * per_level + j);
      add("output_blocks." + n + ".0", "up_blocks." + s(i) + ".resnets." + s(j), true);
      if (attention) add("output_blocks." + n + ".1", "up_blocks." + s(i) + ".attentions." + s(j), false);
      if (j == per_level - 1 && i < levels - 1)
        add("output_blocks." + n + (attention ? ".2" : ".1") + ".conv", "up_blocks." + s(i) + ".upsamplers.0.conv",
            false);
    }
  }
  add("out.0", "conv_norm_out", false);
  add("out.2", "conv_out", false);
  return t;
}

bool has_prefix(const std::string& key, const std::string& prefix) {
  return key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 && key[prefix.size()] == '.';
}

// Maps `key` through the table in one direction (`from` / `to` select the columns).
std::optional<std::string> translate(const UnetConfig& config, const std::string& key, bool ldm_to_diffusers) {
  for (const auto& block : block_table(config)) {
    const std::string& from = ldm_to_diffusers ? block.ldm : block.diffusers;
    const std::string& to = ldm_to_diffusers ? block.diffusers : block.ldm;
    if (!has_prefix(key, from)) continue;
    const std::string rest = key.substr(from.size() + 1);
    if (!block.resnet) return to + "." + rest;
    for (const auto& [ldm_member, diffusers_member] : resnet_members()) {
      const std::string& member_from = ldm_to_diffusers ? ldm_member : diffusers_member;
      const std::string& member_to = ldm_to_diffusers ? diffusers_member : ldm_member;
      if (has_prefix(rest, member_from)) return to + "." + member_to + rest.substr(member_from.size());
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ldm_unet_key_to_diffusers(const UnetConfig& config, const std::string& ldm_key) {
  return translate(config, ldm_key, true);
}

std::optional<std::string> diffusers_unet_key_to_ldm(const UnetConfig& config, const std::string& diffusers_key) {
  return translate(config, diffusers_key, false);
}

}  // namespace viscpm::diffusion
