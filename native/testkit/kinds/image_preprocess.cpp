// Golden kind `image_preprocess`: decode the case's image with our decoder, then the
// Pillow-exact bicubic resize and normalisation.
#include "testkit/parity/kinds.h"
#include "vision/beit3_config.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace viscpm::parity {

void run_image_preprocess(const Case& c, Result& r) {
  const auto& inputs = c.inputs_json();
  const std::string file = inputs.value("image", std::string("image.png"));
  const int size = inputs.value("input_size", 224);

  // Mean/std come from the chat model's beit3 config when the fixtures carry one.
  vision::PreprocessConfig config;
  const auto& models = c.suite().manifest().value("models", json::object());
  if (models.contains("chat") && models["chat"].contains("beit3_config")) {
    config = vision::PreprocessConfig::from(
        vision::Beit3Config::load(c.suite().resolve(models["chat"]["beit3_config"].get<std::string>())));
  }
  config.width = config.height = size;

  const auto image = vision::Image::read_file(c.input_file(file));
  r.compare(c, "pixel_values", vision::preprocess_image(image.view(), config));
}

}  // namespace viscpm::parity
