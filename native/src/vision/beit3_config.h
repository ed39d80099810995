// Configuration of the BEiT-3 ("Muffin") vision encoder, read from a beit3.json file (the
// fields of the fixtures README; models/beit3-large.json holds the released model's).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace viscpm::vision {

struct Beit3Config {
  int64_t img_size = 224;
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t encoder_embed_dim = 1024;
  int64_t encoder_attention_heads = 16;
  int64_t encoder_ffn_embed_dim = 4096;
  int64_t encoder_layers = 24;
  int64_t vocab_size = 64010;          // text embedding rows (checkpoint only, unused)
  int64_t max_source_positions = 1024; // rows of the query position table (embed_positions.B)
  double layernorm_eps = 1e-5;
  int64_t query_num = 64;
  std::array<float, 3> image_mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> image_std{0.5f, 0.5f, 0.5f};

  int64_t patches_per_side() const { return img_size / patch_size; }
  int64_t num_patches() const { return patches_per_side() * patches_per_side(); }
  int64_t num_vision_tokens() const { return num_patches() + 1; }  // cls + patches
  int64_t head_dim() const { return encoder_embed_dim / encoder_attention_heads; }

  // BEiT-3 large as VisCPM-Chat instantiates it.
  static Beit3Config large() { return {}; }
  // Fields missing from the JSON keep the large defaults. The fixed architecture flags
  // (activation_fn, multiway, subln, ...) must, when present, have the values of the
  // VisCPM encoder: anything else is Unsupported. Inconsistent sizes: FormatError.
  static Beit3Config from_json(const nlohmann::json& j, const std::string& origin = "beit3 config");
  static Beit3Config load(const std::filesystem::path& path);  // NotFound / FormatError
  void validate(const std::string& origin) const;
  nlohmann::ordered_json to_json() const;
};

}  // namespace viscpm::vision
