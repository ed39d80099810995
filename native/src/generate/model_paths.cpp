#include "generate/model_paths.h"

#include "common/error.h"

#include <algorithm>
#include <string>
#include <vector>

namespace viscpm::generate {
namespace {

namespace fs = std::filesystem;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_checkpoint_name(const std::string& name) {
  if (starts_with(name, "viscpm_chat")) return ends_with(name, ".pt") || ends_with(name, ".safetensors");
  if (starts_with(name, "pytorch_model")) return ends_with(name, ".bin") || ends_with(name, ".safetensors");
  return false;
}

// The first of `candidates` that exists, else NotFound naming all of them.
fs::path first_existing(const fs::path& dir, const std::vector<fs::path>& candidates, const std::string& what) {
  for (const auto& c : candidates)
    if (is_file(dir / c)) return dir / c;
  std::string tried;
  for (const auto& c : candidates) tried += (tried.empty() ? "" : " or ") + (dir / c).string();
  throw NotFound("VisCPM-Chat model directory: missing " + what + ": " + tried);
}

}  // namespace

ChatModelPaths ChatModelPaths::from_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw NotFound("VisCPM-Chat model directory not found: " + dir.string());
  if (!fs::is_directory(dir, ec)) throw InvalidArgument("not a directory: " + dir.string() + " (expected a VisCPM-Chat model directory)");

  ChatModelPaths paths;
  std::vector<fs::path> checkpoints;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && is_checkpoint_name(entry.path().filename().string())) checkpoints.push_back(entry.path());
  }
  if (ec) throw IoError("cannot list " + dir.string() + ": " + ec.message());
  std::sort(checkpoints.begin(), checkpoints.end());
  if (checkpoints.empty()) {
    throw NotFound("VisCPM-Chat model directory: missing checkpoint: no file named viscpm_chat*.pt, "
                   "viscpm_chat*.safetensors, pytorch_model*.bin or pytorch_model*.safetensors in " + dir.string());
  }
  if (checkpoints.size() > 1) {
    std::string names;
    for (const auto& c : checkpoints) names += (names.empty() ? "" : ", ") + c.filename().string();
    throw InvalidArgument("VisCPM-Chat model directory " + dir.string() + " holds several checkpoints (" + names +
                          "): keep one there or name the checkpoint file explicitly");
  }
  paths.checkpoint = checkpoints.front();
  paths.cpm_bee_config = first_existing(dir, {"cpm-bee.json", fs::path("config") / "cpm-bee-10b.json"}, "CPM-Bee config");
  if (is_file(dir / "beit3.json")) paths.beit3_config = dir / "beit3.json";
  paths.vocabulary = first_existing(dir, {fs::path("vocab") / "bee.txt", "bee.txt"}, "vocabulary");
  return paths;
}

void ChatModelPaths::check_exist() const {
  auto need = [](const fs::path& p, const char* what) {
    if (p.empty()) throw InvalidArgument(std::string("VisCPM-Chat model: no ") + what + " path given");
    if (!is_file(p)) throw NotFound(std::string("VisCPM-Chat model: ") + what + " not found: " + p.string());
  };
  need(checkpoint, "checkpoint");
  need(cpm_bee_config, "CPM-Bee config");
  if (!beit3_config.empty()) need(beit3_config, "BEiT-3 config");
  need(vocabulary, "vocabulary");
}

}  // namespace viscpm::generate
