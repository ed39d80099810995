// `viscpm quantize`: a model directory whose CPM-Bee matrices are stored as int8 rows with a
// float32 scale each, so that loading it reads a quarter of the bytes of float32 (half of
// float16) and quantizes nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "cpmbee/layers.h"

namespace viscpm::pipelines {

struct QuantizeReport {
  std::filesystem::path checkpoint;  // the checkpoint written
  int64_t quantized_tensors = 0;     // CPM-Bee matrices stored as int8 (+ one "_scale" each)
  int64_t copied_tensors = 0;        // every other tensor, in its stored dtype
  uint64_t bytes_before = 0, bytes_after = 0;  // tensor bytes of the two checkpoints
};

// Reads the one checkpoint of a VisCPM-Chat or VisCPM-Paint directory (the layouts of
// models/README.md) and its cpm-bee.json, and writes to `out_dir` (created; it must not hold
// files already) every file of the directory but that checkpoint, plus
// "<checkpoint stem>.int8.safetensors": the "llm." matrices the int8 model holds (linear
// layers and the tied embedding, names from cpmbee::CpmBee itself) as int8 with
// "<name>_scale" rows, every other tensor as stored. One tensor in memory at a time.
// `progress(done, total)` after each tensor; returning false cancels (Cancelled, nothing
// left under the checkpoint's name). FormatError when the checkpoint does not match the
// config or is quantized already.
QuantizeReport quantize_model_directory(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir,
                                        cpmbee::WeightFormat to = cpmbee::WeightFormat::kInt8,
                                        const std::function<bool(int64_t, int64_t)>& progress = {});

}  // namespace viscpm::pipelines
