#include "pipelines/chat/chat_model.h"

#include "common/error.h"
#include "cpmbee/inputs.h"
#include "io/tensor_source.h"
#include "pipelines/language_model.h"
#include "common/tensor_text.h"

#include <c10/core/InferenceMode.h>

namespace viscpm::chat {

ChatModel::ChatModel(std::shared_ptr<const text::Tokenizer> tokenizer, vision::VisionEncoder vision, cpmbee::CpmBee llm)
    : tokenizer_(std::move(tokenizer)), vision_(std::move(vision)), llm_(std::move(llm)) {}

std::shared_ptr<ChatModel> ChatModel::assemble(std::shared_ptr<const text::Tokenizer> tokenizer,
                                               vision::VisionEncoder vision, cpmbee::CpmBee llm) {
  if (!tokenizer || vision.is_empty() || llm.is_empty()) throw InvalidArgument("chat model: every part must be given");
  if (tokenizer->vocab_size() != llm->config().vocab_size)
    throw InvalidArgument("chat model: the vocabulary has " + std::to_string(tokenizer->vocab_size()) +
                          " entries but CPM-Bee's vocab_size is " + std::to_string(llm->config().vocab_size));
  if (vision->output_dim() != llm->config().dim_model)
    throw InvalidArgument("chat model: the vision mapping outputs " + std::to_string(vision->output_dim()) +
                          " features but CPM-Bee's dim_model is " + std::to_string(llm->config().dim_model));
  if (vision->device() != llm->device())
    throw InvalidArgument("chat model: the vision encoder and CPM-Bee are on different devices");
  return std::shared_ptr<ChatModel>(new ChatModel(std::move(tokenizer), std::move(vision), std::move(llm)));
}

std::shared_ptr<ChatModel> ChatModel::load(const std::filesystem::path& model_dir, const ChatModelOptions& options) {
  return load(ChatModelPaths::from_directory(model_dir), options);
}

std::shared_ptr<ChatModel> ChatModel::load(const ChatModelPaths& paths, const ChatModelOptions& options) {
  paths.check_exist();
  // Configs first: a bad or mismatched file fails before any weight is read.
  auto [tokenizer, llm_config] = pipelines::read_language_model_files(paths.vocabulary, paths.cpm_bee_config);
  const auto vision_config =
      paths.beit3_config.empty() ? vision::Beit3Config::large() : vision::Beit3Config::load(paths.beit3_config);
  const at::ScalarType dtype =
      pipelines::resolve_language_model_dtype(options.dtype, llm_config, options.device, "chat model");
  c10::InferenceMode guard;
  const auto source = pipelines::open_checkpoint(paths.checkpoint, options.verify_checksums);
  vision::VisionEncoderOptions vision_options;
  vision_options.device = options.device;
  vision_options.dtype = dtype;
  const cpmbee::WeightFormat matrices = pipelines::resolve_language_model_matrices(options.llm_matrices, *source);
  // Before the vision side sizes itself by it.
  cpmbee::require_weights_fit(llm_config, dtype, options.device, matrices);
  vision_options.output_dim = llm_config.dim_model;
  vision::VisionEncoder vision = vision::load_vision_encoder(*source, vision_config, vision_options);
  cpmbee::CpmBee llm = pipelines::load_language_model(*source, llm_config, dtype, options.device, matrices);
  return assemble(std::move(tokenizer), std::move(vision), std::move(llm));
}

at::Tensor ChatModel::encode_image(const vision::ImageView& image) const {
  c10::InferenceMode guard;
  at::Tensor states = vision_->embed_images({image});
  encoder_calls_.fetch_add(1);
  return states.select(0, 0);
}

at::Tensor ChatModel::encode_pixels(const at::Tensor& pixel_values) const {
  if (!pixel_values.defined() || (pixel_values.dim() != 3 && !(pixel_values.dim() == 4 && pixel_values.size(0) == 1)))
    throw InvalidArgument("pixel values must be [3, S, S] or [1, 3, S, S], got " + shape_string(pixel_values));
  c10::InferenceMode guard;
  at::Tensor states = vision_->forward(pixel_values.dim() == 3 ? pixel_values.unsqueeze(0) : pixel_values);
  encoder_calls_.fetch_add(1);
  return states.select(0, 0);
}

ChatSession ChatModel::start_session(const vision::ImageView& image, std::string context) const {
  ChatSession session(shared_from_this(), encode_image(image), std::move(context));
  session.fresh_states_ = true;
  return session;
}

ChatSession ChatModel::start_session_with_states(const at::Tensor& vision_states, std::string context) const {
  return ChatSession(shared_from_this(), vision_states, std::move(context));
}

}  // namespace viscpm::chat
