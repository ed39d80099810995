#include "cpmbee/config.h"

#include "common/error.h"
#include "io/text.h"

#include <fstream>
#include <set>
#include <sstream>

namespace viscpm::cpmbee {
namespace {

const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {
      "vocab_size", "dim_model", "num_heads", "dim_head", "dim_ff", "num_layers", "dropout_p",
      "position_bias_num_buckets", "position_bias_num_segment_buckets", "position_bias_max_distance",
      "eps", "half", "mask_modules"};
  return keys;
}

int64_t read_int(const nlohmann::json& json, const char* key, bool required, int64_t fallback,
                 const std::string& origin) {
  auto it = json.find(key);
  if (it == json.end()) {
    if (required) throw FormatError(origin + ": missing required field \"" + key + "\"");
    return fallback;
  }
  // JSON numbers like 4096.0 are not accepted for sizes: the reference would build a
  // module with a float size and fail.
  if (!it->is_number_integer())
    throw FormatError(origin + ": field \"" + key + "\" must be an integer, got " + it->dump());
  return it->get<int64_t>();
}

double read_double(const nlohmann::json& json, const char* key, double fallback, const std::string& origin) {
  auto it = json.find(key);
  if (it == json.end()) return fallback;
  if (!it->is_number())
    throw FormatError(origin + ": field \"" + key + "\" must be a number, got " + it->dump());
  return it->get<double>();
}

}  // namespace

CpmBeeConfig CpmBeeConfig::from_json(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object()) throw FormatError(origin + ": expected a JSON object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    // The reference passes the file as constructor keyword arguments: unknown keys fail there too.
    if (!known_keys().count(it.key()))
      throw FormatError(origin + ": unknown field \"" + it.key() + "\"");
  }
  CpmBeeConfig c;
  // Sizes whose reference defaults differ from the 10B values are required.
  c.vocab_size = read_int(json, "vocab_size", true, 0, origin);
  c.dim_model = read_int(json, "dim_model", true, 0, origin);
  c.num_heads = read_int(json, "num_heads", true, 0, origin);
  c.dim_head = read_int(json, "dim_head", true, 0, origin);
  c.dim_ff = read_int(json, "dim_ff", true, 0, origin);
  c.num_layers = read_int(json, "num_layers", true, 0, origin);
  c.position_bias_num_buckets = read_int(json, "position_bias_num_buckets", false, 256, origin);
  c.position_bias_num_segment_buckets = read_int(json, "position_bias_num_segment_buckets", false, 256, origin);
  c.position_bias_max_distance = read_int(json, "position_bias_max_distance", false, 2048, origin);
  c.dropout_p = read_double(json, "dropout_p", 0.0, origin);
  c.eps = read_double(json, "eps", 1e-6, origin);
  if (auto it = json.find("half"); it != json.end()) {
    if (!it->is_boolean()) throw FormatError(origin + ": field \"half\" must be true or false, got " + it->dump());
    c.half = it->get<bool>();
  }
  if (auto it = json.find("mask_modules"); it != json.end() && !it->is_null()) {
    // Per-layer (skip attention, skip FFN) flags. Only "no layer skips anything" is supported.
    if (!it->is_array() || static_cast<int64_t>(it->size()) != c.num_layers)
      throw FormatError(origin + ": \"mask_modules\" must be null or a list of num_layers [bool, bool] pairs");
    for (const auto& pair : *it) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_boolean() || !pair[1].is_boolean())
        throw FormatError(origin + ": \"mask_modules\" entries must be [bool, bool] pairs, got " + pair.dump());
      if (pair[0].get<bool>() || pair[1].get<bool>())
        throw Unsupported(origin + ": \"mask_modules\" that remove attention or FFN blocks are not supported");
    }
  }
  try {
    c.validate();
  } catch (const InvalidArgument& e) {
    throw FormatError(origin + ": " + e.what());
  }
  return c;
}

CpmBeeConfig CpmBeeConfig::load(const std::filesystem::path& path) {
  const std::string in = io::read_config_file(path, "CPM-Bee config");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
  return from_json(json, path.string());
}

double CpmBeeConfig::parameter_count() const {
  const double dim = double(dim_model), width = double(attention_width()), ff = double(dim_ff);
  const double per_layer = 2 * dim           // the two RMS norms
                           + 4 * width * dim  // q, k, v, out
                           + 3 * ff * dim;    // w_0, w_1, w_out
  return double(vocab_size) * dim + double(bias_rows()) * double(num_heads) + double(num_layers) * per_layer + dim;
}

void CpmBeeConfig::validate() const {
  auto positive = [](const char* name, int64_t v) {
    if (v <= 0) throw InvalidArgument(std::string("\"") + name + "\" must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("dim_model", dim_model);
  positive("num_heads", num_heads);
  positive("dim_head", dim_head);
  positive("dim_ff", dim_ff);
  positive("num_layers", num_layers);
  positive("position_bias_num_buckets", position_bias_num_buckets);
  positive("position_bias_num_segment_buckets", position_bias_num_segment_buckets);
  positive("position_bias_max_distance", position_bias_max_distance);
  // The rotary sub-id transform pairs dimension j with j + dim_model/2.
  if (dim_model % 2 != 0)
    throw InvalidArgument("\"dim_model\" must be even (rotary embedding), got " + std::to_string(dim_model));
  // Positional buckets: half per direction, a quarter exact; the log range must be positive.
  if (position_bias_num_buckets % 4 != 0)
    throw InvalidArgument("\"position_bias_num_buckets\" must be a multiple of 4, got " +
                          std::to_string(position_bias_num_buckets));
  if (position_bias_max_distance <= position_bias_num_buckets / 4)
    throw InvalidArgument("\"position_bias_max_distance\" (" + std::to_string(position_bias_max_distance) +
                          ") must exceed position_bias_num_buckets / 4 (" +
                          std::to_string(position_bias_num_buckets / 4) + ")");
  if (!(eps > 0)) throw InvalidArgument("\"eps\" must be positive");
  if (!(dropout_p >= 0 && dropout_p < 1)) throw InvalidArgument("\"dropout_p\" must be in [0, 1)");
}

nlohmann::ordered_json CpmBeeConfig::to_json() const {
  nlohmann::ordered_json j;
  j["vocab_size"] = vocab_size;
  j["dim_model"] = dim_model;
  j["dim_ff"] = dim_ff;
  j["num_layers"] = num_layers;
  j["num_heads"] = num_heads;
  j["dim_head"] = dim_head;
  j["dropout_p"] = dropout_p;
  j["position_bias_num_buckets"] = position_bias_num_buckets;
  j["position_bias_num_segment_buckets"] = position_bias_num_segment_buckets;
  j["position_bias_max_distance"] = position_bias_max_distance;
  j["eps"] = eps;
  j["half"] = half;
  return j;
}


}  // namespace viscpm::cpmbee
