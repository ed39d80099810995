// Where the files of a VisCPM-Chat model live (layout: models/README.md, section
// "VisCPM-Chat model directory").
#pragma once

#include <filesystem>

namespace viscpm::chat {

struct ChatModelPaths {
  std::filesystem::path checkpoint;      // one state dict: query, mapping.*, vpm.*, llm.*
  std::filesystem::path cpm_bee_config;  // cpm-bee.json (schema of config/cpm-bee-10b.json)
  std::filesystem::path beit3_config;    // empty: the released BEiT-3 large configuration
  std::filesystem::path vocabulary;      // bee.txt

  // Finds the files in `dir`:
  //   checkpoint      exactly one of viscpm_chat*.pt, viscpm_chat*.safetensors,
  //                   pytorch_model*.bin, pytorch_model*.safetensors
  //   cpm_bee_config  cpm-bee.json, else config/cpm-bee-10b.json
  //   beit3_config    beit3.json (optional)
  //   vocabulary      vocab/bee.txt, else bee.txt
  // NotFound names the missing directory/file (and what was looked for); InvalidArgument
  // when several checkpoints match or `dir` is not a directory.
  // Fields already set in `given` are taken as they are and not looked for.
  static ChatModelPaths from_directory(const std::filesystem::path& dir, const ChatModelPaths& given = {});

  // NotFound naming the first file that does not exist (beit3_config only when set).
  void check_exist() const;
};

}  // namespace viscpm::chat
