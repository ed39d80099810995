#include "diffusion/vae_config.h"

#include "common/error.h"
#include "diffusion/unet_config.h"

namespace viscpm::diffusion {

using json = nlohmann::json;

namespace {

const json* field(const json& config, const char* key) {
  auto it = config.find(key);
  return it == config.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

VaeConfig VaeConfig::from_json(const json& config, const std::string& origin) {
  if (!config.is_object()) throw FormatError(origin + ": expected a JSON object");
  auto bad = [&](const char* key, const std::string& what) -> FormatError {
    return FormatError(origin + ": field '" + key + "' " + what);
  };
  auto integer = [&](const char* key, int64_t fallback) {
    const json* v = field(config, key);
    if (!v) return fallback;
    if (!v->is_number_integer()) throw bad(key, "must be an integer, got " + v->dump());
    return v->get<int64_t>();
  };
  if (const json* v = field(config, "_class_name"); v && *v != "AutoencoderKL")
    throw FormatError(origin + ": _class_name is " + v->dump() + ", expected AutoencoderKL");

  VaeConfig c;
  c.in_channels = integer("in_channels", 3);
  c.out_channels = integer("out_channels", 3);
  c.latent_channels = integer("latent_channels", 4);
  c.layers_per_block = integer("layers_per_block", 1);
  c.norm_num_groups = integer("norm_num_groups", 32);
  c.sample_size = integer("sample_size", 32);
  if (const json* v = field(config, "scaling_factor")) {
    if (!v->is_number()) throw bad("scaling_factor", "must be a number, got " + v->dump());
    c.scaling_factor = v->get<double>();
  }
  const json* channels = field(config, "block_out_channels");
  if (!channels || !channels->is_array() || channels->empty())
    throw bad("block_out_channels", "must be a non-empty list of integers");
  for (const auto& e : *channels) {
    if (!e.is_number_integer()) throw bad("block_out_channels", "must be a list of integers");
    c.block_out_channels.push_back(e.get<int64_t>());
  }
  if (const json* v = field(config, "up_block_types")) {
    if (!v->is_array() || v->size() != c.block_out_channels.size())
      throw bad("up_block_types", "must list one block per block_out_channels entry");
    for (const auto& e : *v)
      if (e != "UpDecoderBlock2D") throw Unsupported(origin + ": up block type " + e.dump() + " is not supported");
  }
  if (const json* v = field(config, "act_fn"); v && *v != "silu") throw Unsupported(origin + ": act_fn must be silu");
  // Later diffusers options, accepted only at the values that give the SD 2.x decoder.
  for (const char* key : {"use_quant_conv", "use_post_quant_conv", "mid_block_add_attention"})
    if (const json* v = field(config, key); v && *v != true)
      throw Unsupported(origin + ": '" + key + "' = " + v->dump() + " is not supported");
  if (const json* v = field(config, "shift_factor"); v && *v != 0.0)
    throw Unsupported(origin + ": shift_factor " + v->dump() + " is not supported");
  c.validate(origin);
  return c;
}

VaeConfig VaeConfig::from_file(const std::filesystem::path& path) {
  return from_json(read_json_config(path), path.string());
}

void VaeConfig::validate(const std::string& origin) const {
  if (block_out_channels.empty()) throw FormatError(origin + ": block_out_channels is empty");
  if (in_channels <= 0 || out_channels <= 0 || latent_channels <= 0 || layers_per_block <= 0 || norm_num_groups <= 0)
    throw FormatError(origin + ": channel counts, layers_per_block and norm_num_groups must be positive");
  for (int64_t ch : block_out_channels)
    if (ch <= 0 || ch % norm_num_groups != 0)
      throw FormatError(origin + ": block_out_channels entry " + std::to_string(ch) +
                        " is not a positive multiple of norm_num_groups " + std::to_string(norm_num_groups));
  if (!(scaling_factor > 0)) throw FormatError(origin + ": scaling_factor must be positive");
}

VaeConfig VaeConfig::sd21_base() {
  VaeConfig c;
  c.in_channels = 3;
  c.out_channels = 3;
  c.latent_channels = 4;
  c.block_out_channels = {128, 256, 512, 512};
  c.layers_per_block = 2;
  c.norm_num_groups = 32;
  c.scaling_factor = 0.18215;
  c.sample_size = 768;
  return c;
}

}  // namespace viscpm::diffusion
