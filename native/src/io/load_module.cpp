// Strict state-dict loading: validate everything, then copy tensor by tensor.
#include "common/module.h"

#include <sstream>
#include <unordered_map>

#include "common/error.h"
#include "io/dtypes.h"
#include "io/stored_tensor.h"
#include "io/tensor_source.h"
#include "common/tensor_text.h"

namespace viscpm::io {

namespace {
bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// At most `limit` names, then a count: a 10B checkpoint can miss a thousand keys.
void list(std::ostringstream& out, const char* title, const std::vector<std::string>& lines, size_t limit = 20) {
  if (lines.empty()) return;
  out << "\n  " << title << " (" << lines.size() << "):";
  for (size_t i = 0; i < lines.size() && i < limit; ++i) out << "\n    " << lines[i];
  if (lines.size() > limit) out << "\n    ... and " << (lines.size() - limit) << " more";
}
}  // namespace

LoadReport load_module(viscpm::nn::Module& module, const TensorSource& source, const LoadOptions& options) {
  std::unordered_map<std::string, at::Tensor> targets;
  std::vector<std::string> target_order;
  auto collect = [&](const std::string& name, const at::Tensor& t) {
    if (!t.defined()) return;  // e.g. an absent bias
    if (targets.emplace(name, t).second) target_order.push_back(name);
  };
  // Every tensor a model holds is a parameter (viscpm::nn::Module has no buffers).
  for (const auto& item : module.named_parameters(/*recurse=*/true)) collect(item.key(), item.value());

  LoadReport report;
  std::vector<std::pair<const TensorEntry*, at::Tensor>> copies;
  struct Quantization {
    const TensorEntry* entry;
    at::Tensor values, scales;
  };
  std::vector<Quantization> quantizations;
  std::vector<std::string> mis_shaped, mis_typed;
  std::unordered_map<std::string, bool> seen;
  for (const auto& entry : source.entries()) {
    if (!starts_with(entry.name, options.prefix)) continue;  // another module's key
    bool ignored = false;
    for (const auto& p : options.ignored_prefixes) ignored = ignored || starts_with(entry.name, p);
    if (ignored) {
      report.ignored.push_back(entry.name);
      continue;
    }
    std::string local = entry.name.substr(options.prefix.size());
    auto it = targets.find(local);
    if (it == targets.end()) {
      report.unknown.push_back(entry.name);
      continue;
    }
    seen[local] = true;
    if (it->second.sizes() != at::IntArrayRef(entry.shape)) {
      mis_shaped.push_back(entry.name + ": checkpoint has " + shape_string(entry.shape) + ", the model expects " +
                           shape_string(it->second.sizes()));
      continue;
    }
    const at::Tensor& target = it->second;
    const bool int8_target = target.scalar_type() == at::kChar && targets.count(local + "_scale");
    if (int8_target && at::isFloatingType(entry.dtype)) {
      if (!options.quantize_int8_rows) {
        mis_typed.push_back(entry.name + ": the model expects int8 weights, the checkpoint has " +
                            python_dtype_name(entry.dtype));
        continue;
      }
      seen[local + "_scale"] = true;
      quantizations.push_back({&entry, target, targets.at(local + "_scale")});
      continue;
    }
    if (entry.dtype == at::kChar && target.scalar_type() != at::kChar) {
      mis_typed.push_back(entry.name + ": int8 in the checkpoint (quantized, e.g. by `viscpm quantize`), the model " +
                          "expects " + python_dtype_name(target.scalar_type()) + " (load it with dtype int8)");
      continue;
    }
    copies.emplace_back(&entry, target);
  }
  std::vector<std::string> missing;
  for (const auto& name : target_order)
    if (!seen.count(name)) missing.push_back(options.prefix + name);

  if (!missing.empty() || !mis_shaped.empty() || !mis_typed.empty() ||
      (!report.unknown.empty() && !options.allow_unknown)) {
    std::ostringstream msg;
    msg << source.path().string() << " does not match the model"
        << (options.prefix.empty() ? std::string() : " under prefix '" + options.prefix + "'") << ":";
    list(msg, "missing keys", missing);
    list(msg, "keys with the wrong shape", mis_shaped);
    list(msg, "keys with the wrong element type", mis_typed);
    if (!options.allow_unknown) list(msg, "unexpected keys", report.unknown);
    throw FormatError(msg.str());
  }
  if (options.check_only) return report;
  for (auto& [entry, target] : copies) {
    source.read_into(*entry, target);
    report.loaded.push_back(entry->name);
  }
  // One float tensor at a time: the fp32 temporary is the only extra memory.
  for (auto& q : quantizations) {
    options.quantize_int8_rows(source.read(*q.entry, at::kFloat, q.values.device()), q.values, q.scales);
    report.loaded.push_back(q.entry->name);
  }
  return report;
}

}  // namespace viscpm::io
