#include "pipelines/language_model.h"

#include "common/error.h"
#include "io/tensor_source.h"
#include "kernels/ops.h"

#include <c10/core/InferenceMode.h>

namespace viscpm::pipelines {

LanguageModelFiles read_language_model_files(const std::filesystem::path& vocabulary,
                                             const std::filesystem::path& cpm_bee_config) {
  LanguageModelFiles files;
  files.tokenizer = std::make_shared<const text::Tokenizer>(text::Tokenizer::from_file(vocabulary));
  files.config = cpmbee::CpmBeeConfig::load(cpm_bee_config);
  if (files.tokenizer->vocab_size() != files.config.vocab_size)
    throw FormatError("the vocabulary " + vocabulary.string() + " has " + std::to_string(files.tokenizer->vocab_size()) +
                      " entries but " + cpm_bee_config.string() + " says vocab_size " +
                      std::to_string(files.config.vocab_size));
  return files;
}

bool is_model_dtype(at::ScalarType dtype) { return dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16; }

at::ScalarType resolve_language_model_dtype(const std::optional<at::ScalarType>& requested,
                                            const cpmbee::CpmBeeConfig& config, at::Device device, const char* what) {
  if (requested) {
    if (!is_model_dtype(*requested))
      throw InvalidArgument(std::string(what) + " dtype must be float32, float16 or bfloat16, got " +
                            c10::toString(*requested));
    return *requested;
  }
  return config.half && device.is_cuda() ? at::kHalf : at::kFloat;
}

cpmbee::WeightFormat resolve_language_model_matrices(const std::optional<cpmbee::WeightFormat>& requested,
                                                     const io::TensorSource& checkpoint) {
  const bool quantized = cpmbee::holds_int8_matrices(checkpoint);
  if (requested == cpmbee::WeightFormat::kDense && quantized)
    throw FormatError(checkpoint.path().string() +
                      " holds CPM-Bee's weights as int8 (written by `viscpm quantize`): load it with dtype int8 "
                      "(or auto), or use the float checkpoint it was made from");
  if (requested) return *requested;
  return quantized ? cpmbee::WeightFormat::kInt8 : cpmbee::WeightFormat::kDense;
}

std::unique_ptr<io::TensorSource> open_checkpoint(const std::filesystem::path& path, bool verify_checksums) {
  io::OpenOptions options;
  options.verify_checksums = verify_checksums;
  return io::TensorSource::open(path, options);
}

cpmbee::CpmBee load_language_model(const io::TensorSource& checkpoint, const cpmbee::CpmBeeConfig& config,
                                   at::ScalarType dtype, at::Device device, cpmbee::WeightFormat matrices) {
  cpmbee::CpmBee llm(config, dtype, device, matrices);
  llm->load_weights(checkpoint, "llm.");
  return llm;
}

void check_language_model(const io::TensorSource& checkpoint, const cpmbee::CpmBeeConfig& config,
                          cpmbee::WeightFormat matrices) {
  c10::InferenceMode guard;
  cpmbee::CpmBee shapes(config, at::kFloat, at::Device(at::kMeta), matrices);  // names and shapes, no storage
  io::LoadOptions options;
  options.prefix = "llm.";
  options.check_only = true;
  if (matrices == cpmbee::WeightFormat::kInt8) options.quantize_int8_rows = kernels::quantize_int8_rows;
  io::load_module(*shapes, checkpoint, options);
}

}  // namespace viscpm::pipelines
