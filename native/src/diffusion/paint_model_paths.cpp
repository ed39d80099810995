#include "diffusion/paint_model_paths.h"

#include "common/error.h"

#include <algorithm>
#include <string>
#include <vector>

namespace viscpm::diffusion {
namespace {

namespace fs = std::filesystem;

constexpr const char* kWhat = "VisCPM-Paint model directory";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool has_prefix(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_checkpoint_name(const std::string& name) {
  if (has_prefix(name, "viscpm_paint")) return has_suffix(name, ".pt") || has_suffix(name, ".safetensors");
  if (has_prefix(name, "pytorch_model")) return has_suffix(name, ".bin") || has_suffix(name, ".safetensors");
  return false;
}

// The first of `candidates` (relative to `dir`) that exists, else NotFound naming all of them.
fs::path first_existing(const fs::path& dir, const std::vector<fs::path>& candidates, const std::string& what) {
  for (const auto& c : candidates)
    if (is_file(dir / c)) return dir / c;
  std::string tried;
  for (const auto& c : candidates) tried += (tried.empty() ? "" : " or ") + (dir / c).string();
  throw NotFound(std::string(kWhat) + ": missing " + what + ": " + tried);
}

}  // namespace

PaintModelPaths PaintModelPaths::from_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw NotFound(std::string(kWhat) + " not found: " + dir.string());
  if (!is_dir(dir)) throw InvalidArgument("not a directory: " + dir.string() + " (expected a " + kWhat + ")");

  std::vector<fs::path> checkpoints;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && is_checkpoint_name(entry.path().filename().string()))
      checkpoints.push_back(entry.path());
  }
  if (ec) throw IoError("cannot list " + dir.string() + ": " + ec.message());
  std::sort(checkpoints.begin(), checkpoints.end());
  if (checkpoints.empty()) {
    throw NotFound(std::string(kWhat) + ": missing checkpoint: no file named viscpm_paint*.pt, viscpm_paint*.safetensors, "
                   "pytorch_model*.bin or pytorch_model*.safetensors in " + dir.string());
  }
  if (checkpoints.size() > 1) {
    std::string names;
    for (const auto& c : checkpoints) names += (names.empty() ? "" : ", ") + c.filename().string();
    throw InvalidArgument(std::string(kWhat) + " " + dir.string() + " holds several checkpoints (" + names +
                          "): keep one there or name the files explicitly (PaintModelPaths)");
  }

  PaintModelPaths paths;
  paths.checkpoint = checkpoints.front();
  paths.cpm_bee_config = first_existing(dir, {"cpm-bee.json", fs::path("config") / "cpm-bee-10b.json"}, "CPM-Bee config");
  paths.vocabulary = first_existing(dir, {fs::path("vocab") / "bee.txt", "bee.txt"}, "vocabulary");

  // The reference loads these from the hub repository stabilityai/stable-diffusion-2-1-base.
  const fs::path hub = dir / "stabilityai" / "stable-diffusion-2-1-base";
  const fs::path sd = is_dir(hub) ? hub : dir;
  paths.unet_config = first_existing(sd, {fs::path("unet") / "config.json"}, "UNet config");
  paths.vae_config = first_existing(sd, {fs::path("vae") / "config.json"}, "VAE config");
  paths.vae_weights = first_existing(
      sd, {fs::path("vae") / "diffusion_pytorch_model.safetensors", fs::path("vae") / "diffusion_pytorch_model.bin"},
      "VAE weights");
  paths.scheduler_config =
      first_existing(sd, {fs::path("scheduler") / "scheduler_config.json"}, "scheduler config");
  return paths;
}

void PaintModelPaths::check_exist() const {
  auto need = [](const fs::path& p, const char* what) {
    if (p.empty()) throw InvalidArgument(std::string("VisCPM-Paint model: no ") + what + " path given");
    if (!is_file(p)) throw NotFound(std::string("VisCPM-Paint model: ") + what + " not found: " + p.string());
  };
  need(checkpoint, "checkpoint");
  need(cpm_bee_config, "CPM-Bee config");
  need(vocabulary, "vocabulary");
  need(unet_config, "UNet config");
  need(vae_config, "VAE config");
  need(vae_weights, "VAE weights");
  need(scheduler_config, "scheduler config");
}

}  // namespace viscpm::diffusion
