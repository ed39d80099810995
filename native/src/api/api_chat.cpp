#include <atomic>

#include <cstring>
#include <vector>

#include "api/api_common.h"
#include "api/guard.h"
#include "pipelines/chat/chat_model.h"
#include "vision/image.h"

struct viscpm_chat_model {
  std::shared_ptr<viscpm::chat::ChatModel> model;
};

// The public struct as a base, so viscpm_chat_turn_free gets back to the owner of its arrays.
struct ChatTurnHandle : viscpm_chat_turn {
  std::string answer_text;
  std::vector<int32_t> ids;
};

struct viscpm_chat_session {
  std::optional<viscpm::chat::ChatSession> session;
  std::atomic<bool> cancel{false};
};

using namespace viscpm::api;
namespace chat = viscpm::chat;
namespace decoding = viscpm::decoding;
namespace vision = viscpm::vision;

namespace {

decoding::GenerationConfig to_config(const viscpm_generation_params* params) {
  const viscpm_generation_params p = params ? *params : viscpm_generation_default_params();
  decoding::GenerationConfig c;
  c.strategy = to_strategy(p.decoding);
  c.beam_size = p.beam_size;
  c.max_length = p.max_length;
  c.max_input_length = p.max_input_length;
  c.temperature = p.temperature;
  c.repetition_penalty = p.repetition_penalty;
  c.length_penalty = p.length_penalty;
  c.top_k = p.top_k;
  c.top_p = p.top_p;
  c.seed = p.seed;
  c.escape_text = p.escape_text != 0;
  c.validate();
  return c;
}

chat::ChatModelOptions to_options(const viscpm_model_params* params) {
  const viscpm_model_params p = params_or_default(params);
  chat::ChatModelOptions options;
  options.device = parse_device(p.device);
  options.dtype = to_scalar_type(p.dtype);
  options.llm_matrices = to_weight_format(p.dtype);
  options.verify_checksums = p.verify_checksums != 0;
  if (p.low_memory != 0)
    throw viscpm::InvalidArgument("low_memory applies to VisCPM-Paint only: chat needs CPM-Bee for every token");
  return options;
}

viscpm_chat_turn* new_turn(const chat::ChatTurn& turn) {
  auto handle = std::make_unique<ChatTurnHandle>();
  handle->answer_text = turn.answer;
  handle->ids = turn.token_ids;
  viscpm_chat_turn& v = *handle;
  v.answer = handle->answer_text.c_str();
  v.answer_bytes = static_cast<int64_t>(handle->answer_text.size());
  v.token_ids = handle->ids.data();
  v.token_count = static_cast<int64_t>(handle->ids.size());
  v.ended_with_eos = turn.ended_with_eos ? 1 : 0;
  v.score = turn.score;
  v.sum_logprobs = turn.sum_logprobs;
  v.prompt_tokens = static_cast<int64_t>(turn.prompt_input_ids.size());
  v.model_steps = turn.model_steps;
  v.encoded_image = turn.encoded_image ? 1 : 0;
  return handle.release();
}

viscpm_chat_session* new_session(chat::ChatSession session) {
  auto handle = std::make_unique<viscpm_chat_session>();
  handle->session.emplace(std::move(session));
  return handle.release();
}

}  // namespace

extern "C" {

viscpm_generation_params viscpm_generation_default_params(void) {
  const decoding::GenerationConfig c;
  viscpm_generation_params p;
  p.decoding = VISCPM_DECODE_BEAM_SEARCH;
  p.beam_size = static_cast<int32_t>(c.beam_size);
  p.max_length = static_cast<int32_t>(c.max_length);
  p.max_input_length = static_cast<int32_t>(c.max_input_length);
  p.temperature = static_cast<float>(c.temperature);
  p.repetition_penalty = static_cast<float>(c.repetition_penalty);
  p.length_penalty = static_cast<float>(c.length_penalty);
  p.top_k = static_cast<int32_t>(c.top_k);
  p.top_p = static_cast<float>(c.top_p);
  p.seed = c.seed;
  p.escape_text = c.escape_text ? 1 : 0;
  return p;
}

viscpm_status viscpm_chat_model_load(const char* model_dir, const viscpm_model_params* params,
                                     viscpm_chat_model** out) {
  return guarded([&] {
    if (!model_dir) throw viscpm::InvalidArgument("model directory is null");
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    const chat::ChatModelOptions options = to_options(params);
    auto handle = std::make_unique<viscpm_chat_model>();
    handle->model = chat::ChatModel::load(model_dir, options);
    *out = handle.release();
  });
}

viscpm_status viscpm_chat_model_load_files(const char* model_dir, const char* checkpoint, const char* cpm_bee_config,
                                           const char* beit3_config, const char* vocabulary,
                                           const viscpm_model_params* params, viscpm_chat_model** out) {
  return guarded([&] {
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    auto given = [](const char* s) { return s && *s; };
    chat::ChatModelPaths paths;
    if (given(checkpoint)) paths.checkpoint = checkpoint;
    if (given(cpm_bee_config)) paths.cpm_bee_config = cpm_bee_config;
    if (given(beit3_config)) paths.beit3_config = beit3_config;
    if (given(vocabulary)) paths.vocabulary = vocabulary;
    if (given(model_dir)) {
      paths = chat::ChatModelPaths::from_directory(model_dir, paths);
    } else if (paths.checkpoint.empty() || paths.cpm_bee_config.empty() || paths.vocabulary.empty()) {
      throw viscpm::InvalidArgument("give a model directory, or the checkpoint, CPM-Bee config and vocabulary files");
    }
    paths.check_exist();
    const chat::ChatModelOptions options = to_options(params);
    auto handle = std::make_unique<viscpm_chat_model>();
    handle->model = chat::ChatModel::load(paths, options);
    *out = handle.release();
  });
}

void viscpm_chat_model_free(viscpm_chat_model* model) { delete model; }

int64_t viscpm_chat_model_vision_encoder_calls(const viscpm_chat_model* model) {
  return model ? model->model->vision_encoder_calls() : 0;
}

viscpm_status viscpm_chat_session_open_file(const viscpm_chat_model* model, const char* image_path,
                                            viscpm_chat_session** out) {
  return guarded([&] {
    const auto& m = *require(model, "chat model").model;
    if (!image_path) throw viscpm::InvalidArgument("image path is null");
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    auto image = vision::Image::read_file(image_path);
    *out = new_session(m.start_session(image.view()));
  });
}

viscpm_status viscpm_chat_session_open_bytes(const viscpm_chat_model* model, const uint8_t* bytes, int64_t size,
                                             viscpm_chat_session** out) {
  return guarded([&] {
    const auto& m = *require(model, "chat model").model;
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    if (size < 0 || (!bytes && size > 0)) throw viscpm::InvalidArgument("bad image buffer");
    auto image = vision::Image::decode(bytes, static_cast<size_t>(size));
    *out = new_session(m.start_session(image.view()));
  });
}

viscpm_status viscpm_chat_session_open_pixels(const viscpm_chat_model* model, const uint8_t* pixels, int64_t size,
                                              int32_t width, int32_t height, int64_t row_stride, int32_t format,
                                              viscpm_chat_session** out) {
  return guarded([&] {
    const auto& m = *require(model, "chat model").model;
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    if (size < 0) throw viscpm::InvalidArgument("negative buffer size");
    auto image = vision::Image::wrap(pixels, static_cast<size_t>(size), width, height, row_stride,
                                     to_pixel_format(format));
    *out = new_session(m.start_session(image.view()));
  });
}

void viscpm_chat_session_free(viscpm_chat_session* session) { delete session; }

viscpm_status viscpm_chat_session_ask(viscpm_chat_session* session, const char* question,
                                      const viscpm_generation_params* params, viscpm_text_callback on_text,
                                      void* user_data, viscpm_chat_turn** turn_out) {
  return guarded([&] {
    auto& s = require(session, "chat session");
    if (!question) throw viscpm::InvalidArgument("question is null");
    require_out(turn_out);
    const auto config = to_config(params);
    s.cancel.store(false);
    decoding::GenerationCallbacks callbacks;
    callbacks.cancel = &s.cancel;
    if (on_text) {
      callbacks.on_text = [&](const std::string& text) {
        if (on_text(text.c_str(), user_data) != 0) s.cancel.store(true);
      };
    }
    *turn_out = new_turn(s.session->ask(question, config, callbacks));
  });
}

void viscpm_chat_turn_free(viscpm_chat_turn* turn) { delete static_cast<ChatTurnHandle*>(turn); }

void viscpm_chat_session_cancel(viscpm_chat_session* session) {
  if (session) session->cancel.store(true);
}

viscpm_status viscpm_chat_session_set_context(viscpm_chat_session* session, const char* context) {
  return guarded([&] {
    auto& s = require(session, "chat session");
    if (!context) throw viscpm::InvalidArgument("context is null");
    s.session->set_context(context);
  });
}

viscpm_status viscpm_chat_session_context(const viscpm_chat_session* session, char** context_out) {
  return guarded([&] {
    const auto& s = require(session, "chat session");
    if (!context_out) throw viscpm::InvalidArgument("output pointer is null");
    *context_out = copy_string(s.session->context());
  });
}

}  // extern "C"
