// Case kind `checkpoint`: key list, shapes, stored dtypes and float64 sums of a checkpoint;
// with params.ignored_keys, also loads it (ignoring those keys) into a module mirroring
// the model's reference checkpoint and requires exactly the reference weights.
#include <c10/core/InferenceMode.h>
#include <ATen/ops/cat.h>

#include <algorithm>
#include <set>

#include <map>

#include "common/error.h"
#include "io/dtypes.h"
#include "testkit/mirror_module.h"
#include "io/tensor_source.h"
#include "testkit/parity/kinds.h"

namespace viscpm::parity {

namespace {

json describe(const io::TensorSource& source) {
  json keys = json::object();
  for (const auto& e : source.entries()) {
    at::Tensor values = source.read(e).to(at::kDouble);
    keys[e.name] = {{"shape", e.shape},
                    {"dtype", io::python_dtype_name(e.dtype)},
                    {"sum", values.sum().item<double>()},
                    {"abs_sum", values.abs().sum().item<double>()},
                    {"contiguous", e.contiguous()}};
  }
  return {{"type", source.container_type()}, {"num_keys", source.entries().size()}, {"keys", keys}};
}

// The manifest's checkpoint for the case's model folder ("models/chat" -> its "checkpoint").
std::filesystem::path reference_checkpoint(const Case& c) {
  std::string model = c.entry().at("model").get<std::string>();
  for (const auto& [name, info] : c.suite().manifest().at("models").items())
    if (info.value("dir", "") == model && info.contains("checkpoint"))
      return c.suite().resolve(info.at("checkpoint").get<std::string>());
  throw FormatError("manifest has no model with dir '" + model + "' and a checkpoint");
}

void check_equal_to_reference(const Case& c, Result& r, const io::TensorSource& source) {
  auto ignored = c.params().at("ignored_keys").get<std::vector<std::string>>();
  auto reference = io::TensorSource::open(reference_checkpoint(c));
  std::vector<std::pair<std::string, std::vector<int64_t>>> keys;
  for (const auto& e : reference->entries()) keys.emplace_back(e.name, e.shape);
  auto module = io::make_mirror_module(keys, at::TensorOptions().dtype(at::kFloat).device(c.suite().device()));

  io::LoadOptions options;
  options.ignored_prefixes = ignored;
  io::LoadReport report = io::load_module(*module, source, options);  // strict: throws on any mismatch
  std::set<std::string> expected_ignored(ignored.begin(), ignored.end());
  std::set<std::string> got_ignored(report.ignored.begin(), report.ignored.end());
  if (got_ignored != expected_ignored)
    r.fail("ignored_keys", "the checkpoint's ignored keys differ from params.ignored_keys");

  // Every loaded weight (float32) against the reference file's, as one flat vector.
  std::vector<at::Tensor> loaded, expected;
  std::map<std::string, at::Tensor> params;
  for (const auto& p : module->named_parameters(true)) params.emplace(p.key(), p.value());
  for (const auto& e : reference->entries()) {
    if (!params.count(e.name)) {
      r.fail("loaded_weights", "the module has no parameter '" + e.name + "' of the reference file");
      return;
    }
    loaded.push_back(params.at(e.name).to(at::kCPU).reshape(-1));
    expected.push_back(reference->read(e, at::kFloat).reshape(-1));
  }
  Tolerance exact;
  r.compare("loaded_weights_equal_" + reference->path().filename().string(), at::cat(loaded), at::cat(expected), exact);
}

}  // namespace

void run_checkpoint(const Case& c, Result& r) {
  c10::InferenceMode guard;
  auto source = io::TensorSource::open(c.checkpoint());
  r.compare_json(c, "json", describe(*source), c.expected_json());
  if (c.params().contains("ignored_keys")) check_equal_to_reference(c, r, *source);
}

}  // namespace viscpm::parity
