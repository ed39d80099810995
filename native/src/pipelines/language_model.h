// The CPM-Bee language model as both pipelines load it: vocabulary and config checked
// against each other before any weight is read, one dtype rule, the checkpoint opened with
// the caller's checksum setting, the "llm." weights loaded strictly.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "cpmbee/config.h"
#include "cpmbee/model.h"
#include "io/tensor_source.h"
#include "text/tokenizer.h"

namespace viscpm::pipelines {

struct LanguageModelFiles {
  std::shared_ptr<const text::Tokenizer> tokenizer;
  cpmbee::CpmBeeConfig config;
};

// Reads the vocabulary and cpm-bee.json; FormatError when their vocabulary sizes differ.
LanguageModelFiles read_language_model_files(const std::filesystem::path& vocabulary,
                                             const std::filesystem::path& cpm_bee_config);

// `requested` when given (float32, float16 or bfloat16, else InvalidArgument naming `what`);
// otherwise float16 when the config says "half" and the device is CUDA (the released
// setup), else float32.
at::ScalarType resolve_language_model_dtype(const std::optional<at::ScalarType>& requested,
                                            const cpmbee::CpmBeeConfig& config, at::Device device, const char* what);

// `requested` when given, else int8 when the checkpoint's "llm." matrices are int8 (a model
// directory written by `viscpm quantize`), else dense. FormatError when dense is requested
// for a quantized checkpoint (its int8 values cannot be read back as float weights).
cpmbee::WeightFormat resolve_language_model_matrices(const std::optional<cpmbee::WeightFormat>& requested,
                                                     const io::TensorSource& checkpoint);

// True for the floating dtypes the models run in (float32, float16, bfloat16).
bool is_model_dtype(at::ScalarType dtype);

std::unique_ptr<io::TensorSource> open_checkpoint(const std::filesystem::path& path, bool verify_checksums);

// CPM-Bee with the checkpoint's "llm." weights (strict: missing, unknown or mis-shaped keys
// are FormatError).
cpmbee::CpmBee load_language_model(const io::TensorSource& checkpoint, const cpmbee::CpmBeeConfig& config,
                                   at::ScalarType dtype, at::Device device,
                                   cpmbee::WeightFormat matrices = cpmbee::WeightFormat::kDense);
// The same checks (keys and shapes under "llm."), reading no weight and allocating none.
void check_language_model(const io::TensorSource& checkpoint, const cpmbee::CpmBeeConfig& config,
                          cpmbee::WeightFormat matrices = cpmbee::WeightFormat::kDense);

}  // namespace viscpm::pipelines
