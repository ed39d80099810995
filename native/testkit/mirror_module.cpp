#include "testkit/mirror_module.h"

#include <ATen/ops/zeros.h>

#include <map>

#include "common/error.h"

namespace viscpm::io {

std::shared_ptr<viscpm::nn::Module> make_mirror_module(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& keys, const at::TensorOptions& options) {
  auto root = std::make_shared<viscpm::nn::Module>();
  std::map<std::string, std::shared_ptr<viscpm::nn::Module>> modules{{"", root}};
  std::map<std::string, bool> parameters;
  for (const auto& [key, shape] : keys) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t dot = key.find('.', start);
      parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::string path;
    auto module = root;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].empty()) throw FormatError("key '" + key + "' has an empty name segment");
      std::string next = path.empty() ? parts[i] : path + "." + parts[i];
      if (parameters.count(next)) throw FormatError("key '" + next + "' is both a tensor and a prefix of '" + key + "'");
      if (i + 1 == parts.size()) {
        if (modules.count(next)) throw FormatError("key '" + key + "' is also a prefix of other keys");
        module->register_parameter(parts[i], at::zeros(shape, options), /*requires_grad=*/false);
        parameters[next] = true;
      } else {
        auto it = modules.find(next);
        if (it == modules.end()) {
          auto child = std::make_shared<viscpm::nn::Module>();
          module->register_module(parts[i], child);
          it = modules.emplace(next, child).first;
        }
        module = it->second;
      }
      path = next;
    }
  }
  return root;
}

}  // namespace viscpm::io
