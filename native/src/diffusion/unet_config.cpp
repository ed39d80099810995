#include "diffusion/unet_config.h"

#include <fstream>

#include "common/error.h"
#include "io/text.h"

namespace viscpm::diffusion {

using json = nlohmann::json;

json read_json_config(const std::filesystem::path& path) {
  const std::string in = io::read_config_file(path, "config");
  try {
    json config = json::parse(in);
    if (!config.is_object()) throw FormatError(path.string() + ": expected a JSON object");
    return config;
  } catch (const json::exception& e) {
    throw FormatError(path.string() + ": invalid JSON: " + e.what());
  }
}

namespace {

// Field readers: absent or null keeps the default; a wrong JSON type is a FormatError.
struct Reader {
  const json& config;
  const std::string& origin;

  const json* find(const char* key) const {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return nullptr;
    return &*it;
  }
  [[noreturn]] void bad(const char* key, const std::string& what) const {
    throw FormatError(origin + ": field '" + key + "' " + what);
  }
  int64_t integer(const char* key, int64_t fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number_integer()) bad(key, "must be an integer, got " + v->dump());
    return v->get<int64_t>();
  }
  double number(const char* key, double fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number()) bad(key, "must be a number, got " + v->dump());
    return v->get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) bad(key, "must be true or false, got " + v->dump());
    return v->get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) bad(key, "must be a string, got " + v->dump());
    return v->get<std::string>();
  }
  std::vector<std::string> strings(const char* key) const {
    const json* v = find(key);
    if (!v || !v->is_array()) bad(key, "must be a list of block type names");
    std::vector<std::string> out;
    for (const auto& e : *v) {
      if (!e.is_string()) bad(key, "must be a list of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  // An integer, or a list of integers (one per level); an integer is broadcast to `levels`.
  std::vector<int64_t> per_level(const char* key, size_t levels) const {
    const json* v = find(key);
    if (!v) bad(key, "is required");
    if (v->is_number_integer()) return std::vector<int64_t>(levels, v->get<int64_t>());
    if (!v->is_array()) bad(key, "must be an integer or a list of integers");
    std::vector<int64_t> out;
    for (const auto& e : *v) {
      if (!e.is_number_integer()) bad(key, "must be a list of integers, got " + v->dump());
      out.push_back(e.get<int64_t>());
    }
    if (out.size() != levels)
      bad(key, "has " + std::to_string(out.size()) + " entries but block_out_channels has " + std::to_string(levels));
    return out;
  }
  // An integer or a list whose entries all equal one value (the only form this runtime runs).
  int64_t uniform_integer(const char* key, int64_t fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) {
      int64_t first = (*v)[0].get<int64_t>();
      for (const auto& e : *v) {
        if (!e.is_number_integer()) bad(key, "must be an integer or a list of integers");
        if (e.get<int64_t>() != first)
          throw Unsupported(origin + ": per-block values of '" + key + "' (" + v->dump() + ") are not supported");
      }
      return first;
    }
    bad(key, "must be an integer or a list of integers, got " + v->dump());
  }
  // Options of later diffusers versions / other models: accepted only at their neutral value.
  void require_neutral(const char* key, const json& neutral) const {
    const json* v = find(key);
    if (!v || *v == neutral) return;
    if (v->is_array() && !v->empty()) {
      bool all = true;
      for (const auto& e : *v) all = all && e == neutral;
      if (all) return;
    }
    throw Unsupported(origin + ": '" + key + "' = " + v->dump() +
                      " is not supported (this runtime implements the Stable Diffusion 2.x UNet family)");
  }
  void require_absent(const char* key) const {
    if (find(key))
      throw Unsupported(origin + ": '" + key + "' = " + find(key)->dump() +
                        " is not supported (this runtime implements the Stable Diffusion 2.x UNet family)");
  }
};

}  // namespace

UnetConfig UnetConfig::from_json(const json& config, const std::string& origin) {
  if (!config.is_object()) throw FormatError(origin + ": expected a JSON object");
  Reader r{config, origin};
  std::string class_name = r.string("_class_name", "UNet2DConditionModel");
  if (class_name != "UNet2DConditionModel")
    throw FormatError(origin + ": _class_name is '" + class_name + "', expected UNet2DConditionModel");

  UnetConfig c;
  c.in_channels = r.integer("in_channels", 4);
  c.out_channels = r.integer("out_channels", 4);
  c.center_input_sample = r.boolean("center_input_sample", false);
  c.flip_sin_to_cos = r.boolean("flip_sin_to_cos", true);
  c.freq_shift = r.integer("freq_shift", 0);
  c.sample_size = r.integer("sample_size", 64);
  c.downsample_padding = r.integer("downsample_padding", 1);
  c.mid_block_scale_factor = r.number("mid_block_scale_factor", 1.0);
  c.norm_num_groups = r.integer("norm_num_groups", 32);
  c.norm_eps = r.number("norm_eps", 1e-5);
  c.use_linear_projection = r.boolean("use_linear_projection", false);
  c.upcast_attention = r.boolean("upcast_attention", false);
  c.conv_in_kernel = r.integer("conv_in_kernel", 3);
  c.conv_out_kernel = r.integer("conv_out_kernel", 3);
  c.layers_per_block = r.uniform_integer("layers_per_block", 2);
  c.cross_attention_dim = r.uniform_integer("cross_attention_dim", 1280);

  const json* channels = r.find("block_out_channels");
  if (!channels || !channels->is_array() || channels->empty()) r.bad("block_out_channels", "must be a non-empty list");
  for (const auto& e : *channels) {
    if (!e.is_number_integer()) r.bad("block_out_channels", "must be a list of integers");
    c.block_out_channels.push_back(e.get<int64_t>());
  }
  const size_t levels = c.block_out_channels.size();

  for (const auto& name : r.strings("down_block_types")) {
    if (name == "CrossAttnDownBlock2D") c.down_block_types.push_back(DownBlockType::kCrossAttnDown);
    else if (name == "DownBlock2D") c.down_block_types.push_back(DownBlockType::kDown);
    else throw Unsupported(origin + ": down block type '" + name + "' is not supported");
  }
  for (const auto& name : r.strings("up_block_types")) {
    if (name == "CrossAttnUpBlock2D") c.up_block_types.push_back(UpBlockType::kCrossAttnUp);
    else if (name == "UpBlock2D") c.up_block_types.push_back(UpBlockType::kUp);
    else throw Unsupported(origin + ": up block type '" + name + "' is not supported");
  }
  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim.
  c.attention_heads = r.find("num_attention_heads") ? r.per_level("num_attention_heads", levels)
                                                    : r.per_level("attention_head_dim", levels);

  if (r.string("act_fn", "silu") != "silu") throw Unsupported(origin + ": act_fn must be silu");
  if (r.string("mid_block_type", "UNetMidBlock2DCrossAttn") != "UNetMidBlock2DCrossAttn")
    throw Unsupported(origin + ": mid_block_type must be UNetMidBlock2DCrossAttn");
  r.require_neutral("dual_cross_attention", false);
  r.require_neutral("only_cross_attention", false);
  r.require_neutral("resnet_time_scale_shift", "default");
  r.require_neutral("time_embedding_type", "positional");
  r.require_neutral("resnet_skip_time_act", false);
  r.require_neutral("resnet_out_scale_factor", 1.0);
  r.require_neutral("class_embeddings_concat", false);
  r.require_neutral("transformer_layers_per_block", 1);
  r.require_neutral("attention_type", "default");
  for (const char* key : {"num_class_embeds", "class_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
                          "addition_embed_type", "addition_time_embed_dim", "time_cond_proj_dim",
                          "time_embedding_dim", "time_embedding_act_fn", "timestep_post_act",
                          "projection_class_embeddings_input_dim", "cross_attention_norm",
                          "mid_block_only_cross_attention", "reverse_transformer_layers_per_block"})
    r.require_absent(key);
  c.validate(origin);
  return c;
}

UnetConfig UnetConfig::from_file(const std::filesystem::path& path) {
  return from_json(read_json_config(path), path.string());
}

void UnetConfig::validate(const std::string& origin) const {
  auto fail = [&](const std::string& what) { throw FormatError(origin + ": " + what); };
  const size_t levels = block_out_channels.size();
  if (levels == 0) fail("block_out_channels is empty");
  if (down_block_types.size() != levels || up_block_types.size() != levels)
    fail("down_block_types and up_block_types need one entry per block_out_channels entry (" +
         std::to_string(levels) + ")");
  if (attention_heads.size() != levels) fail("attention_head_dim needs one entry per level");
  if (in_channels <= 0 || out_channels <= 0 || layers_per_block <= 0 || cross_attention_dim <= 0 ||
      norm_num_groups <= 0 || norm_eps <= 0)
    fail("in/out channels, layers_per_block, cross_attention_dim, norm_num_groups and norm_eps must be positive");
  if (conv_in_kernel <= 0 || conv_in_kernel % 2 == 0 || conv_out_kernel <= 0 || conv_out_kernel % 2 == 0)
    fail("conv_in_kernel and conv_out_kernel must be odd");
  if (block_out_channels[0] % 2 != 0) fail("block_out_channels[0] must be even (sinusoidal time embedding)");
  for (size_t i = 0; i < levels; ++i) {
    const int64_t ch = block_out_channels[i];
    if (ch <= 0 || ch % norm_num_groups != 0)
      fail("block_out_channels[" + std::to_string(i) + "] = " + std::to_string(ch) +
           " is not a positive multiple of norm_num_groups " + std::to_string(norm_num_groups));
    if (attention_heads[i] <= 0) fail("attention head counts must be positive");
  }
  // Every transformer's channel count must split evenly into its heads.
  auto check_heads = [&](int64_t channels, int64_t heads, const std::string& where) {
    if (channels % heads != 0)
      fail(where + ": " + std::to_string(channels) + " channels do not split into " + std::to_string(heads) +
           " heads");
  };
  for (size_t i = 0; i < levels; ++i) {
    if (down_block_types[i] == DownBlockType::kCrossAttnDown)
      check_heads(block_out_channels[i], attention_heads[i], "down block " + std::to_string(i));
    if (up_block_types[i] == UpBlockType::kCrossAttnUp)
      check_heads(block_out_channels[levels - 1 - i], up_heads(static_cast<int64_t>(i)), "up block " + std::to_string(i));
  }
  check_heads(block_out_channels.back(), mid_heads(), "mid block");
}

UnetConfig UnetConfig::sd21_base() {
  UnetConfig c;
  c.in_channels = 4;
  c.out_channels = 4;
  c.center_input_sample = false;
  c.flip_sin_to_cos = true;
  c.freq_shift = 0;
  c.down_block_types = {DownBlockType::kCrossAttnDown, DownBlockType::kCrossAttnDown, DownBlockType::kCrossAttnDown,
                        DownBlockType::kDown};
  c.up_block_types = {UpBlockType::kUp, UpBlockType::kCrossAttnUp, UpBlockType::kCrossAttnUp,
                      UpBlockType::kCrossAttnUp};
  c.block_out_channels = {320, 640, 1280, 1280};
  c.layers_per_block = 2;
  c.downsample_padding = 1;
  c.mid_block_scale_factor = 1.0;
  c.norm_num_groups = 32;
  c.norm_eps = 1e-5;
  c.cross_attention_dim = 1024;
  c.attention_heads = {5, 10, 20, 20};
  c.use_linear_projection = true;
  c.upcast_attention = false;
  c.sample_size = 64;
  return c;
}

}  // namespace viscpm::diffusion
