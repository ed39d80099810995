// scheduler_config.json parsing and diffusers' from_config key resolution.
#include "diffusion/scheduler_internal.h"

#include "common/error.h"
#include "io/text.h"

#include <cmath>
#include <fstream>
#include <sstream>

namespace viscpm::diffusion {

SchedulerConfig SchedulerConfig::from_file(const std::filesystem::path& path) {
  const std::string text = io::read_config_file(path, "scheduler config");
  ordered_json values;
  try {
    values = ordered_json::parse(text);
  } catch (const std::exception& e) {
    throw FormatError("scheduler config " + path.string() + " is not valid JSON: " + e.what());
  }
  if (!values.is_object()) {
    throw FormatError("scheduler config " + path.string() + " must hold a JSON object, found " +
                      std::string(values.type_name()));
  }
  SchedulerConfig config;
  config.values_ = std::move(values);
  return config;
}

SchedulerConfig SchedulerConfig::from_json(const ordered_json& values) {
  if (!values.is_object()) {
    throw InvalidArgument("a scheduler config must be a JSON object, got " + std::string(values.type_name()));
  }
  SchedulerConfig config;
  config.values_ = values;
  return config;
}

std::string SchedulerConfig::class_name() const {
  auto it = values_.find("_class_name");
  return it != values_.end() && it->is_string() ? it->get<std::string>() : std::string();
}

SchedulerConfig SchedulerConfig::with(const std::string& key, const ordered_json& value) const {
  SchedulerConfig copy = *this;
  copy.values_[key] = value;
  return copy;
}

namespace detail {

std::vector<ConfigParam> beta_params() {
  return {
      {"num_train_timesteps", 1000},
      {"beta_start", 0.0001},
      {"beta_end", 0.02},
      {"beta_schedule", "linear"},
      {"trained_betas", nullptr},
  };
}

ResolvedConfig resolve_config(const SchedulerConfig& config, const std::vector<ConfigParam>& params) {
  ResolvedConfig resolved;
  resolved.effective = ordered_json::object();
  const ordered_json& values = config.values();
  for (const auto& param : params) {
    auto it = values.find(param.name);
    resolved.effective[param.name] = it != values.end() ? *it : param.default_value;
  }
  for (auto it = values.begin(); it != values.end(); ++it) {
    const std::string& key = it.key();
    if (!key.empty() && key[0] == '_') continue;  // private keys ("_class_name", ...)
    bool known = false;
    for (const auto& param : params) known = known || key == param.name;
    if (!known) resolved.ignored.push_back(key);
  }
  return resolved;
}

void ConfigReader::fail(const char* key, const std::string& why) const {
  auto it = config_.find(key);
  std::string shown = it != config_.end() ? it->dump() : "(missing)";
  throw InvalidArgument(class_name_ + ": config value " + key + " = " + shown + " " + why);
}

int64_t ConfigReader::integer(const char* key, int64_t min, int64_t max) const {
  const auto& v = config_.at(key);
  int64_t value = 0;
  if (v.is_number_integer()) {
    value = v.get<int64_t>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
             v.get<double>() == std::floor(v.get<double>()) && std::fabs(v.get<double>()) < 9.0e15) {
    value = static_cast<int64_t>(v.get<double>());
  } else {
    fail(key, "must be an integer");
  }
  if (value < min || value > max) {
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return value;
}

double ConfigReader::number(const char* key) const {
  const auto& v = config_.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>())) fail(key, "must be a finite number");
  return v.get<double>();
}

double ConfigReader::number_in(const char* key, double min, double max) const {
  double value = number(key);
  if (value < min || value > max) {
    std::ostringstream range;
    range << "must be between " << min << " and " << max;
    fail(key, range.str());
  }
  return value;
}

bool ConfigReader::boolean(const char* key) const {
  const auto& v = config_.at(key);
  if (!v.is_boolean()) fail(key, "must be true or false");
  return v.get<bool>();
}

std::string ConfigReader::choice(const char* key, std::initializer_list<const char*> allowed) const {
  const auto& v = config_.at(key);
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  if (!v.is_string()) fail(key, "must be one of: " + list);
  std::string value = v.get<std::string>();
  for (const char* a : allowed) {
    if (value == a) return value;
  }
  fail(key, "must be one of: " + list);
}

bool ConfigReader::is_null(const char* key) const { return config_.at(key).is_null(); }

std::vector<double> ConfigReader::number_list(const char* key) const {
  const auto& v = config_.at(key);
  if (!v.is_array()) fail(key, "must be a list of numbers or null");
  std::vector<double> out;
  out.reserve(v.size());
  for (const auto& e : v) {
    if (!e.is_number() || !std::isfinite(e.get<double>())) fail(key, "must be a list of finite numbers");
    out.push_back(e.get<double>());
  }
  return out;
}

}  // namespace detail
}  // namespace viscpm::diffusion
