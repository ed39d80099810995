#include "testkit/kinds/cpmbee_support.h"

#include "io/tensor_source.h"

namespace viscpm::cpmbee {
namespace {

std::filesystem::path config_path(const parity::Case& c) {
  const std::string model = c.entry().at("model").get<std::string>();
  const auto& models = c.suite().manifest().value("models", parity::json::object());
  for (const auto& [name, entry] : models.items()) {
    if (entry.value("dir", std::string()) == model && entry.contains("cpm_bee_config"))
      return c.suite().resolve(entry["cpm_bee_config"].get<std::string>());
  }
  return c.model_dir() / "cpm-bee.json";
}

}  // namespace

std::shared_ptr<CpmBee> parity_model(const parity::Case& c) {
  const auto config = config_path(c);
  const auto checkpoint = c.checkpoint();
  const std::string prefix = c.params().value("checkpoint_prefix", std::string("llm."));
  const auto device = c.suite().device();
  const std::string key = "cpmbee|" + checkpoint.string() + "|" + config.string() + "|" + prefix + "|" + device.str();
  return c.suite().cached<CpmBee>(key, [&] {
    auto model = std::make_shared<CpmBee>(CpmBeeConfig::load(config), at::kFloat, device);
    (*model)->load_weights(*io::TensorSource::open(checkpoint), prefix);
    return model;
  });
}

}  // namespace viscpm::cpmbee
