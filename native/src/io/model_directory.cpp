#include "io/model_directory.h"

#include <algorithm>

#include "common/error.h"

namespace viscpm::io {
namespace fs = std::filesystem;

bool is_regular_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

ModelDirectory::ModelDirectory(fs::path dir, std::string what) : dir_(std::move(dir)), what_(std::move(what)) {
  std::error_code ec;
  if (!fs::exists(dir_, ec)) throw NotFound(what_ + " not found: " + dir_.string());
  if (!fs::is_directory(dir_, ec)) throw InvalidArgument("not a directory: " + dir_.string() + " (expected a " + what_ + ")");
}

fs::path ModelDirectory::unique_checkpoint(const std::vector<Pattern>& patterns) const {
  auto matches = [&](const std::string& name) {
    for (const auto& p : patterns) {
      if (name.rfind(p.prefix, 0) != 0) continue;
      for (const auto& ext : p.extensions)
        if (name.size() >= ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) return true;
    }
    return false;
  };
  std::error_code ec;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir_, ec))
    if (entry.is_regular_file(ec) && matches(entry.path().filename().string())) found.push_back(entry.path());
  if (ec) throw IoError("cannot list " + dir_.string() + ": " + ec.message());
  std::sort(found.begin(), found.end());
  if (found.empty()) {
    std::string names;
    for (const auto& p : patterns)
      for (const auto& ext : p.extensions) names += (names.empty() ? "" : ", ") + p.prefix + "*" + ext;
    throw NotFound(what_ + ": missing checkpoint: no file named " + names + " in " + dir_.string());
  }
  if (found.size() > 1) {
    std::string names;
    for (const auto& c : found) names += (names.empty() ? "" : ", ") + c.filename().string();
    throw InvalidArgument(what_ + " " + dir_.string() + " holds several checkpoints (" + names +
                          "): keep one there or name the checkpoint file explicitly");
  }
  return found.front();
}

fs::path ModelDirectory::first_existing(const std::vector<fs::path>& candidates, const std::string& file,
                                        const fs::path& base) const {
  const fs::path root = base.empty() ? dir_ : base;
  for (const auto& c : candidates)
    if (io::is_regular_file(root / c)) return root / c;
  std::string tried;
  for (const auto& c : candidates) tried += (tried.empty() ? "" : " or ") + (root / c).string();
  throw NotFound(what_ + ": missing " + file + ": " + tried);
}

}  // namespace viscpm::io
