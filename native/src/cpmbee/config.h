// CPM-Bee model configuration (the schema of VisCPM's config/cpm-bee-10b.json).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace viscpm::cpmbee {

struct CpmBeeConfig {
  // Defaults are the released 10B values (cpmbee.md §1), NOT the reference constructor's
  // defaults; from_json requires the size fields so nothing silently falls back.
  int64_t vocab_size = 86583;
  int64_t dim_model = 4096;
  int64_t num_heads = 32;
  int64_t dim_head = 128;
  int64_t dim_ff = 10240;
  int64_t num_layers = 48;
  double dropout_p = 0.0;  // inference ignores it (eval mode)
  int64_t position_bias_num_buckets = 256;
  int64_t position_bias_num_segment_buckets = 256;
  int64_t position_bias_max_distance = 2048;
  double eps = 1e-6;
  bool half = true;  // the released model's parameter dtype (fp16); fixtures use false

  static CpmBeeConfig cpm_bee_10b() { return {}; }

  // Parses and validates. `origin` names the source in error messages (a file path).
  // Missing size fields, unknown keys, wrong types and invalid values raise FormatError.
  static CpmBeeConfig from_json(const nlohmann::json& json, const std::string& origin = "CPM-Bee config");
  // Reads a JSON file: NotFound if missing, FormatError if unreadable or invalid.
  static CpmBeeConfig load(const std::filesystem::path& path);

  // Throws InvalidArgument naming the offending field (used for configs built in code).
  void validate() const;

  nlohmann::ordered_json to_json() const;

  int64_t attention_width() const { return num_heads * dim_head; }  // need not equal dim_model
  int64_t bias_rows() const { return position_bias_num_buckets + position_bias_num_segment_buckets; }
  // Every parameter of the model, embedding included; a double, so that absurd configs
  // (dim_model 1e12) are counted, not overflowed.
  double parameter_count() const;
};

}  // namespace viscpm::cpmbee
