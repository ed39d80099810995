// Golden kind `beit3_forward`: the vision encoder loaded from the case's checkpoint, run on
// the given (already normalised) pixel values; query outputs and mapped states compared.
#include "testkit/parity/kinds.h"
#include "vision/vision_encoder.h"

namespace viscpm::parity {
namespace {

// The beit3 config of the case's model: the manifest's `beit3_config` for the model entry
// whose dir is the case's model, else <model dir>/beit3.json.
std::filesystem::path beit3_config_path(const Case& c) {
  const std::string model = c.entry().at("model").get<std::string>();
  const auto& models = c.suite().manifest().value("models", json::object());
  for (const auto& [name, entry] : models.items()) {
    if (entry.value("dir", std::string()) == model && entry.contains("beit3_config")) {
      return c.suite().resolve(entry["beit3_config"].get<std::string>());
    }
  }
  return c.model_dir() / "beit3.json";
}

}  // namespace

void run_beit3_forward(const Case& c, Result& r) {
  const auto config_path = beit3_config_path(c);
  const auto checkpoint = c.checkpoint();
  const auto device = c.suite().device();
  const std::string key = "vision_encoder|" + checkpoint.string() + "|" + config_path.string() + "|" + device.str();
  auto encoder = c.suite().cached<vision::VisionEncoder>(key, [&] {
    vision::VisionEncoderOptions options;
    options.device = device;
    options.dtype = at::kFloat;
    return std::make_shared<vision::VisionEncoder>(
        vision::load_vision_encoder(checkpoint, vision::Beit3Config::load(config_path), options));
  });
  const auto query_outputs = (*encoder)->encode(c.input("pixel_values"));
  r.compare(c, "vision_query_outputs", query_outputs.cpu());
  r.compare(c, "mapped", (*encoder)->map(query_outputs).cpu());
}

}  // namespace viscpm::parity
