#include "pipelines/paint/paint_model_paths.h"

#include "common/error.h"
#include "io/model_directory.h"

#include <algorithm>
#include <string>
#include <vector>

namespace viscpm::paint {

namespace fs = std::filesystem;

PaintModelPaths PaintModelPaths::from_directory(const fs::path& dir, const PaintModelPaths& given) {
  io::ModelDirectory files(dir, "VisCPM-Paint model directory");
  PaintModelPaths paths = given;
  if (paths.checkpoint.empty())
    paths.checkpoint = files.unique_checkpoint({{"viscpm_paint", {".pt", ".safetensors"}},
                                                {"pytorch_model", {".bin", ".safetensors"}}});
  if (paths.cpm_bee_config.empty())
    paths.cpm_bee_config = files.first_existing({"cpm-bee.json", fs::path("config") / "cpm-bee-10b.json"}, "CPM-Bee config");
  if (paths.vocabulary.empty())
    paths.vocabulary = files.first_existing({fs::path("vocab") / "bee.txt", "bee.txt"}, "vocabulary");

  // The reference loads these from the hub repository stabilityai/stable-diffusion-2-1-base.
  const fs::path hub = dir / "stabilityai" / "stable-diffusion-2-1-base";
  std::error_code ec;
  const fs::path sd = fs::is_directory(hub, ec) ? hub : dir;
  if (paths.unet_config.empty()) paths.unet_config = files.first_existing({fs::path("unet") / "config.json"}, "UNet config", sd);
  if (paths.vae_config.empty()) paths.vae_config = files.first_existing({fs::path("vae") / "config.json"}, "VAE config", sd);
  if (paths.vae_weights.empty())
    paths.vae_weights = files.first_existing(
        {fs::path("vae") / "diffusion_pytorch_model.safetensors", fs::path("vae") / "diffusion_pytorch_model.bin"},
        "VAE weights", sd);
  if (paths.scheduler_config.empty())
    paths.scheduler_config = files.first_existing({fs::path("scheduler") / "scheduler_config.json"}, "scheduler config", sd);
  return paths;
}

void PaintModelPaths::check_exist() const {
  auto need = [](const fs::path& p, const char* what) {
    if (p.empty()) throw InvalidArgument(std::string("VisCPM-Paint model: no ") + what + " path given");
    if (std::filesystem::is_directory(p))
      throw InvalidArgument(std::string("VisCPM-Paint model: ") + what + " " + p.string() + " is a directory; pass the file itself");
    if (!io::is_regular_file(p)) throw NotFound(std::string("VisCPM-Paint model: ") + what + " not found: " + p.string());
  };
  need(checkpoint, "checkpoint");
  need(cpm_bee_config, "CPM-Bee config");
  need(vocabulary, "vocabulary");
  need(unet_config, "UNet config");
  need(vae_config, "VAE config");
  need(vae_weights, "VAE weights");
  need(scheduler_config, "scheduler config");
}

}  // namespace viscpm::paint
