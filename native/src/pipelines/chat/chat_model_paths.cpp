#include "pipelines/chat/chat_model_paths.h"

#include "common/error.h"
#include "io/model_directory.h"

#include <algorithm>
#include <string>
#include <vector>

namespace viscpm::chat {

namespace fs = std::filesystem;

ChatModelPaths ChatModelPaths::from_directory(const fs::path& dir, const ChatModelPaths& given) {
  io::ModelDirectory files(dir, "VisCPM-Chat model directory");
  ChatModelPaths paths = given;
  if (paths.checkpoint.empty())
    paths.checkpoint = files.unique_checkpoint({{"viscpm_chat", {".pt", ".safetensors"}},
                                                {"pytorch_model", {".bin", ".safetensors"}}});
  if (paths.cpm_bee_config.empty())
    paths.cpm_bee_config = files.first_existing({"cpm-bee.json", fs::path("config") / "cpm-bee-10b.json"}, "CPM-Bee config");
  if (paths.beit3_config.empty() && io::is_regular_file(dir / "beit3.json")) paths.beit3_config = dir / "beit3.json";
  if (paths.vocabulary.empty())
    paths.vocabulary = files.first_existing({fs::path("vocab") / "bee.txt", "bee.txt"}, "vocabulary");
  return paths;
}

void ChatModelPaths::check_exist() const {
  auto need = [](const fs::path& p, const char* what) {
    if (p.empty()) throw InvalidArgument(std::string("VisCPM-Chat model: no ") + what + " path given");
    if (std::filesystem::is_directory(p))
      throw InvalidArgument(std::string("VisCPM-Chat model: ") + what + " " + p.string() + " is a directory; pass the file itself");
    if (!io::is_regular_file(p)) throw NotFound(std::string("VisCPM-Chat model: ") + what + " not found: " + p.string());
  };
  need(checkpoint, "checkpoint");
  need(cpm_bee_config, "CPM-Bee config");
  if (!beit3_config.empty()) need(beit3_config, "BEiT-3 config");
  need(vocabulary, "vocabulary");
}

}  // namespace viscpm::chat
