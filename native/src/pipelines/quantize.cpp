#include "pipelines/quantize.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "cpmbee/config.h"
#include "cpmbee/model.h"
#include "io/model_directory.h"
#include "io/tensor_source.h"
#include "kernels/ops.h"
#include "pipelines/language_model.h"

namespace viscpm::pipelines {

namespace fs = std::filesystem;

namespace {

// The checkpoint keys an int8 CPM-Bee stores as int8 (its int8 parameters, "llm."-prefixed).
std::unordered_set<std::string> int8_keys(const cpmbee::CpmBeeConfig& config) {
  cpmbee::CpmBee shapes(config, at::kFloat, at::Device(at::kMeta), cpmbee::WeightFormat::kInt8);
  std::unordered_set<std::string> keys;
  for (const auto& item : shapes->named_parameters(/*recurse=*/true))
    if (item.value().scalar_type() == at::kChar) keys.insert("llm." + item.key());
  return keys;
}

void require_empty_output(const fs::path& out_dir) {
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    if (!fs::is_directory(out_dir)) throw InvalidArgument("quantize: " + out_dir.string() + " exists and is not a directory");
    if (!fs::is_empty(out_dir)) throw InvalidArgument("quantize: " + out_dir.string() + " holds files already; give a new or empty directory");
  }
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError("quantize: cannot create " + out_dir.string() + ": " + ec.message());
}

// Every file of the model directory but the checkpoint, same relative paths.
void copy_other_files(const fs::path& model_dir, const fs::path& checkpoint, const fs::path& out_dir) {
  const fs::path skip = fs::weakly_canonical(checkpoint);
  for (auto it = fs::recursive_directory_iterator(model_dir); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path relative = fs::relative(it->path(), model_dir);
    std::error_code ec;
    if (it->is_directory()) {
      fs::create_directories(out_dir / relative, ec);
    } else if (it->is_regular_file() && fs::weakly_canonical(it->path()) != skip) {
      fs::copy_file(it->path(), out_dir / relative, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) throw IoError("quantize: cannot copy " + it->path().string() + " to " + out_dir.string() + ": " + ec.message());
  }
}

}  // namespace

QuantizeReport quantize_model_directory(const fs::path& model_dir, const fs::path& out_dir, cpmbee::WeightFormat to,
                                        const std::function<bool(int64_t, int64_t)>& progress) {
  if (to != cpmbee::WeightFormat::kInt8) throw InvalidArgument("quantize: the only target format is int8");
  io::ModelDirectory files(model_dir, "model directory");
  const fs::path checkpoint = files.unique_checkpoint({{"viscpm_chat", {".pt", ".safetensors"}},
                                                       {"viscpm_paint", {".pt", ".safetensors"}},
                                                       {"pytorch_model", {".bin", ".safetensors"}}});
  const fs::path config_path = files.first_existing({"cpm-bee.json", fs::path("config") / "cpm-bee-10b.json"}, "CPM-Bee config");
  {
    const fs::path in = fs::weakly_canonical(model_dir), out = fs::weakly_canonical(out_dir);
    const auto mismatch = std::mismatch(in.begin(), in.end(), out.begin(), out.end());
    if (mismatch.first == in.end())
      throw InvalidArgument("quantize: the output directory " + out_dir.string() + " is inside the model directory " +
                            model_dir.string() + "; give one outside it");
  }
  const cpmbee::CpmBeeConfig config = cpmbee::CpmBeeConfig::load(config_path);
  c10::InferenceMode guard;
  const auto source = open_checkpoint(checkpoint, /*verify_checksums=*/true);
  if (cpmbee::holds_int8_matrices(*source))
    throw FormatError(checkpoint.string() + " is quantized already (its CPM-Bee matrices are int8)");
  check_language_model(*source, config);  // every "llm." key present with the config's shapes
  const auto quantized = int8_keys(config);

  // One spec per written tensor; a quantized matrix writes its values, then its scales.
  struct Item {
    const io::TensorEntry* entry;
    enum Kind { kCopy, kValues, kScales } kind;
  };
  std::vector<io::TensorSpec> specs;
  std::vector<Item> items;
  QuantizeReport report;
  for (const auto& entry : source->entries()) {
    report.bytes_before += static_cast<uint64_t>(entry.nbytes());
    if (quantized.count(entry.name)) {
      specs.push_back({entry.name, at::kChar, entry.shape});
      items.push_back({&entry, Item::kValues});
      specs.push_back({entry.name + "_scale", at::kFloat, {entry.shape.at(0)}});
      items.push_back({&entry, Item::kScales});
      report.quantized_tensors += 1;
    } else {
      specs.push_back({entry.name, entry.dtype, entry.shape});
      items.push_back({&entry, Item::kCopy});
      report.copied_tensors += 1;
    }
  }
  for (const auto& spec : specs) {
    uint64_t n = c10::elementSize(spec.dtype);
    for (int64_t d : spec.shape) n *= static_cast<uint64_t>(d);
    report.bytes_after += n;
  }

  require_empty_output(out_dir);
  report.checkpoint = out_dir / (checkpoint.stem().string() + ".int8.safetensors");
  const int64_t total = static_cast<int64_t>(source->entries().size());
  int64_t done = 0;
  at::Tensor pending_scales;
  auto produce = [&](size_t i) -> at::Tensor {
    const Item& item = items[i];
    at::Tensor out;
    if (item.kind == Item::kScales) {
      out = std::move(pending_scales);
    } else if (item.kind == Item::kValues) {
      at::Tensor values;
      kernels::quantize_int8_rows(source->read(*item.entry, at::kFloat), values, pending_scales);
      return values;  // its scales come next; the tensor counts as done then
    } else {
      out = source->read(*item.entry);
    }
    ++done;
    if (progress && !progress(done, total)) throw Cancelled("quantize: cancelled");
    return out;
  };
  io::save_safetensors_streamed(report.checkpoint, specs, produce,
                                {{"format", "pt"},
                                 {"viscpm_quantization", "int8 rows with float32 scales (<name>_scale), CPM-Bee matrices"},
                                 {"viscpm_source", checkpoint.filename().string()}});
  copy_other_files(model_dir, checkpoint, out_dir);
  return report;
}

}  // namespace viscpm::pipelines
