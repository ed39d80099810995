#include "targets.h"

namespace viscpm::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = [] {
    std::vector<Target> out;
    add_checkpoint_targets(out);
    add_image_targets(out);
    add_text_targets(out);
    add_config_targets(out);
    return out;
  }();
  return all;
}

const Target* find_target(const std::string& name) {
  for (const auto& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace viscpm::fuzz
