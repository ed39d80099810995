// VisCPM-Chat end to end (chat.md): one checkpoint loaded into the vision encoder
// (vpm.*, query, mapping.*) and CPM-Bee (llm.*), the tokenizer, and sessions that run
// chat turns over one image.
//
// Thread-safety: a ChatModel is immutable after load(); its const methods (encode_*,
// start_session*) may run concurrently, and any number of ChatSessions on different
// threads may share it. A ChatSession is NOT thread-safe: one turn at a time (it owns its
// KV cache and history); cancel a running turn through decoding::GenerationCallbacks from any
// thread. Everything runs under c10::InferenceMode.
//
// Resolved at load time: configs, vocabulary, parameter dtype and device, the weights
// (converted once), CPM-Bee's fused layouts and tables. Per turn: the prompt, one KV cache
// (kept by the session and reused while large enough), the search.
#pragma once

#include "cpmbee/model.h"
#include "decoding/decoding.h"
#include "pipelines/chat/chat_model_paths.h"
#include "text/tokenizer.h"
#include "vision/image.h"
#include "vision/vision_encoder.h"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace viscpm::chat {

struct ChatModelOptions {
  at::Device device = at::kCPU;
  // Parameter and activation dtype of both models (float32, float16, bfloat16). nullopt:
  // float16 when cpm-bee.json says "half" and the device is CUDA (the released setup),
  // else float32.
  std::optional<at::ScalarType> dtype;
  // CPM-Bee's weight matrices: kInt8 stores them as int8 rows (quantized while loading a
  // float checkpoint, or read as they are from a `viscpm quantize` one). nullopt: as the
  // checkpoint stores them.
  std::optional<cpmbee::WeightFormat> llm_matrices;
  bool verify_checksums = true;  // CRC-32 of the checkpoint records (io::OpenOptions)
};

class ChatSession;

// What one chat turn produced.
struct ChatTurn {
  std::string answer;        // text for the user: unescaped when config.escape_text, else == model_answer
  std::string model_answer;  // the reference's answer (escaped form: '<' as "<<"), as kept in the history
  std::vector<int32_t> token_ids;  // output ids of the chosen hypothesis, incl. a final EOS
  bool ended_with_eos = false;     // false: cut by max_length
  double sum_logprobs = 0, score = 0;
  std::vector<int32_t> prompt_input_ids;  // the N prompt tokens fed to the prefill
  std::string context_before, context_after;
  int64_t model_steps = 0;
  bool encoded_image = false;  // the vision encoder ran for this turn (false: cached states)
};

class ChatModel : public std::enable_shared_from_this<ChatModel> {
 public:
  // From a model directory (ChatModelPaths::from_directory) or explicit paths. NotFound
  // names a missing file; FormatError a bad config/checkpoint (key, shapes) or a vocabulary
  // whose size differs from cpm-bee.json's vocab_size.
  static std::shared_ptr<ChatModel> load(const std::filesystem::path& model_dir, const ChatModelOptions& options = {});
  static std::shared_ptr<ChatModel> load(const ChatModelPaths& paths, const ChatModelOptions& options = {});
  // Assembles already-loaded parts (tests). Sizes must agree (InvalidArgument).
  static std::shared_ptr<ChatModel> assemble(std::shared_ptr<const text::Tokenizer> tokenizer,
                                             vision::VisionEncoder vision, cpmbee::CpmBee llm);

  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  const cpmbee::CpmBeeImpl& language_model() const { return *llm_; }
  const vision::VisionEncoderImpl& vision_encoder() const { return *vision_; }
  at::Device device() const { return llm_->device(); }
  at::ScalarType dtype() const { return llm_->dtype(); }
  int64_t query_num() const { return vision_->config().query_num; }
  int64_t dim_model() const { return llm_->config().dim_model; }

  // Vision states [query_num, dim_model] (model dtype/device) of a decoded image
  // (Pillow-exact preprocessing) or of normalised pixels [3, S, S] / [1, 3, S, S].
  at::Tensor encode_image(const vision::ImageView& image) const;
  at::Tensor encode_pixels(const at::Tensor& pixel_values) const;
  // How many times the vision encoder ran (tests: cached states are not re-encoded).
  int64_t vision_encoder_calls() const { return encoder_calls_.load(); }

  // A session over one image; `context` is a history in the reference format (model text).
  ChatSession start_session(const vision::ImageView& image, std::string context = "") const;
  ChatSession start_session_with_states(const at::Tensor& vision_states, std::string context = "") const;

 private:
  ChatModel(std::shared_ptr<const text::Tokenizer> tokenizer, vision::VisionEncoder vision, cpmbee::CpmBee llm);

  std::shared_ptr<const text::Tokenizer> tokenizer_;
  vision::VisionEncoder vision_;
  cpmbee::CpmBee llm_;
  mutable std::atomic<int64_t> encoder_calls_{0};
};

class ChatSession {
 public:
  // vision_states: [query_num, dim_model] or [1, query_num, dim_model] (converted to the
  // model's dtype/device). InvalidArgument on other shapes.
  ChatSession(std::shared_ptr<const ChatModel> model, const at::Tensor& vision_states, std::string context = "");

  // One turn (chat.md §2): builds {image, context, question, <ans>}, splices the vision
  // states, prefills, decodes with config.strategy, appends
  // "User: " + question + "\n" + "AI: " + answer + "\n" to the history (question escaped
  // when config.escape_text; answer in model text) and returns the answer.
  // InvalidArgument: bad config, question text that does not tokenize (escape_text off),
  // prompt longer than config.max_input_length - 2 tokens. Cancelled: stopped through
  // `callbacks` (history unchanged). `trace` (beam search only) records the search.
  ChatTurn ask(const std::string& question, const decoding::GenerationConfig& config = {},
               const decoding::GenerationCallbacks& callbacks = {}, decoding::BeamSearchTrace* trace = nullptr);

  const std::string& context() const { return context_; }
  void set_context(std::string context) { context_ = std::move(context); }
  const at::Tensor& vision_states() const { return vision_states_; }
  const ChatModel& model() const { return *model_; }

 private:
  std::shared_ptr<const ChatModel> model_;
  at::Tensor vision_states_;  // [query_num, dim_model], model dtype/device
  std::string context_;
  cpmbee::KvCache cache_;     // reused across turns while large enough
  bool fresh_states_ = false; // states were encoded for this session and not used yet
  friend class ChatModel;
};

}  // namespace viscpm::chat
