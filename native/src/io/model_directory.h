// Finding the files of a model directory by name, shared by the chat and paint layouts:
// one checkpoint among known name patterns, the first of several candidate names, and
// errors that name what was looked for where.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace viscpm::io {

class ModelDirectory {
 public:
  // `what` names the layout in messages ("VisCPM-Chat model directory"). NotFound when `dir`
  // does not exist, InvalidArgument when it is not a directory.
  ModelDirectory(std::filesystem::path dir, std::string what);

  const std::filesystem::path& path() const { return dir_; }

  // A checkpoint pattern: names starting with `prefix` and ending with one of `extensions`.
  struct Pattern {
    std::string prefix;
    std::vector<std::string> extensions;
  };
  // The one file matching a pattern: NotFound when none does, InvalidArgument when several do.
  std::filesystem::path unique_checkpoint(const std::vector<Pattern>& patterns) const;
  // The first of `candidates` (relative to `base`, default the directory) that is a file,
  // else NotFound naming all of them.
  std::filesystem::path first_existing(const std::vector<std::filesystem::path>& candidates, const std::string& file,
                                       const std::filesystem::path& base = {}) const;

 private:
  std::filesystem::path dir_;
  std::string what_;
};

bool is_regular_file(const std::filesystem::path& p);

}  // namespace viscpm::io
