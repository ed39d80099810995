#include "vision/beit3_config.h"

#include <fstream>

#include "common/error.h"
#include "io/text.h"

namespace viscpm::vision {
namespace {

template <class T>
void read_field(const nlohmann::json& j, const char* key, T& value, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end()) return;
  try {
    value = it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(origin + ": field '" + key + "' has the wrong type (" + e.what() + ")");
  }
}

// Architecture flags the encoder implements; a config asking for another variant is refused
// rather than silently run with the wrong architecture.
void expect_flag(const nlohmann::json& j, const char* key, const nlohmann::json& expected, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || *it == expected) return;
  throw Unsupported(origin + ": '" + key + "' = " + it->dump() + " is not supported (the VisCPM encoder has " +
                    expected.dump() + ")");
}

}  // namespace

Beit3Config Beit3Config::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw FormatError(origin + ": expected a JSON object");
  Beit3Config c;
  read_field(j, "img_size", c.img_size, origin);
  read_field(j, "patch_size", c.patch_size, origin);
  read_field(j, "in_chans", c.in_chans, origin);
  read_field(j, "encoder_embed_dim", c.encoder_embed_dim, origin);
  read_field(j, "encoder_attention_heads", c.encoder_attention_heads, origin);
  read_field(j, "encoder_ffn_embed_dim", c.encoder_ffn_embed_dim, origin);
  read_field(j, "encoder_layers", c.encoder_layers, origin);
  read_field(j, "vocab_size", c.vocab_size, origin);
  read_field(j, "max_source_positions", c.max_source_positions, origin);
  read_field(j, "layernorm_eps", c.layernorm_eps, origin);
  read_field(j, "query_num", c.query_num, origin);
  read_field(j, "image_mean", c.image_mean, origin);
  read_field(j, "image_std", c.image_std, origin);
  expect_flag(j, "activation_fn", "gelu", origin);
  expect_flag(j, "multiway", true, origin);
  expect_flag(j, "subln", true, origin);
  expect_flag(j, "encoder_normalize_before", true, origin);
  expect_flag(j, "normalize_output", true, origin);
  expect_flag(j, "layernorm_embedding", false, origin);
  expect_flag(j, "no_scale_embedding", true, origin);
  expect_flag(j, "no_output_layer", true, origin);
  expect_flag(j, "rel_pos_buckets", 0, origin);
  expect_flag(j, "resize_interpolation", "bicubic", origin);
  c.validate(origin);
  return c;
}

void Beit3Config::validate(const std::string& origin) const {
  auto fail = [&](const std::string& what) { throw FormatError(origin + ": " + what); };
  if (img_size <= 0 || patch_size <= 0 || img_size % patch_size != 0) {
    fail("img_size (" + std::to_string(img_size) + ") must be a positive multiple of patch_size (" +
         std::to_string(patch_size) + ")");
  }
  if (in_chans != 3) fail("in_chans must be 3 (RGB input), got " + std::to_string(in_chans));
  if (encoder_embed_dim <= 0 || encoder_attention_heads <= 0 || encoder_embed_dim % encoder_attention_heads != 0) {
    fail("encoder_embed_dim (" + std::to_string(encoder_embed_dim) + ") must be a positive multiple of " +
         "encoder_attention_heads (" + std::to_string(encoder_attention_heads) + ")");
  }
  if (encoder_ffn_embed_dim <= 0 || encoder_layers <= 0 || query_num <= 0) {
    fail("encoder_ffn_embed_dim, encoder_layers and query_num must be positive");
  }
  if (max_source_positions < query_num + 2) {
    fail("max_source_positions (" + std::to_string(max_source_positions) + ") must hold query_num + 2 rows");
  }
  if (!(layernorm_eps > 0)) fail("layernorm_eps must be positive");
  for (float s : image_std) {
    if (!(s > 0.0f)) fail("image_std values must be positive");
  }
}

Beit3Config Beit3Config::load(const std::filesystem::path& path) {
  const std::string text = io::read_config_file(path, "BEiT-3 config");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
  return from_json(j, path.string());
}

nlohmann::ordered_json Beit3Config::to_json() const {
  return {{"img_size", img_size},
          {"patch_size", patch_size},
          {"in_chans", in_chans},
          {"encoder_embed_dim", encoder_embed_dim},
          {"encoder_attention_heads", encoder_attention_heads},
          {"encoder_ffn_embed_dim", encoder_ffn_embed_dim},
          {"encoder_layers", encoder_layers},
          {"vocab_size", vocab_size},
          {"max_source_positions", max_source_positions},
          {"layernorm_eps", layernorm_eps},
          {"query_num", query_num},
          {"image_mean", image_mean},
          {"image_std", image_std}};
}

}  // namespace viscpm::vision
