// One chat turn (chat.md §2-§6) on a ChatSession.
#include "decoding/beam_search.h"
#include "pipelines/chat/chat_model.h"
#include "pipelines/chat/chat_stepper.h"
#include "decoding/sampling.h"

#include "common/error.h"
#include "common/memory.h"
#include "cpmbee/inputs.h"
#include "text/structured_input.h"
#include "common/tensor_text.h"

#include <c10/core/InferenceMode.h>

namespace viscpm::chat {
namespace {

// Output ids -> text without escaping (what a user should see): decoding-table strings,
// then vocabulary words verbatim (special tokens as written, '<' not doubled).
std::string display_text(const text::Tokenizer& tokenizer, const text::IdTextTable& table, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    if (const std::string* s = table.find(id)) {
      out += *s;
    } else if (id >= 0) {
      out += tokenizer.word(id);
    }
  }
  return out;
}

std::vector<int32_t> int_vector(const at::Tensor& t) {
  const at::Tensor c = t.reshape({-1}).to(at::kInt).cpu().contiguous();
  return std::vector<int32_t>(c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel());
}

}  // namespace

ChatSession::ChatSession(std::shared_ptr<const ChatModel> model, const at::Tensor& vision_states, std::string context)
    : model_(std::move(model)), context_(std::move(context)) {
  if (!model_) throw InvalidArgument("chat session: no model");
  const int64_t q = model_->query_num(), d = model_->dim_model();
  at::Tensor s = vision_states;
  if (s.defined() && s.dim() == 3 && s.size(0) == 1) s = s.select(0, 0);
  if (!s.defined() || s.dim() != 2 || s.size(0) != q || s.size(1) != d || !at::isFloatingType(s.scalar_type()))
    throw InvalidArgument("vision states must be floating point [" + std::to_string(q) + ", " + std::to_string(d) +
                          "] (or [1, " + std::to_string(q) + ", " + std::to_string(d) + "]), got " +
                          shape_string(vision_states));
  c10::InferenceMode guard;
  vision_states_ = s.to(model_->device(), model_->dtype()).contiguous();
}

ChatTurn ChatSession::ask(const std::string& question, const decoding::GenerationConfig& config,
                          const decoding::GenerationCallbacks& callbacks, decoding::BeamSearchTrace* trace) {
  config.validate();
  decoding::check_cancelled(callbacks);
  c10::InferenceMode guard;
  const text::Tokenizer& tokenizer = model_->tokenizer();
  const cpmbee::CpmBeeImpl& llm = model_->language_model();
  const bool beam = config.strategy == decoding::DecodingStrategy::kBeamSearch;

  // Structured input; the question goes in as model text (escaped unless asked not to).
  const std::string question_text = config.escape_text ? text::Tokenizer::escape(question) : question;
  const auto data = text::chat_turn_data(static_cast<int>(model_->query_num()), context_, question_text);
  const text::GenerationInput input = text::prepare_generation_input(tokenizer, data, std::nullopt);
  const auto total = static_cast<int64_t>(input.raw.input_ids.size());
  if (total > config.max_input_length) {
    // The reference cuts at max_input_length and then fails with "no answer to predict".
    throw InvalidArgument("the chat prompt is too long: " + std::to_string(total - 2) +
                          " tokens (image placeholders, history and question) but at most " +
                          std::to_string(config.max_input_length - 2) +
                          " fit; shorten the question or drop older turns from the history");
  }
  const int64_t answer_segment = input.predict_segments.at(0).segment_id;
  const at::Tensor bound = input.image_bound.reshape({-1, 2});
  if (bound.size(0) != 1 || bound[0][1].item<int64_t>() - bound[0][0].item<int64_t>() != model_->query_num())
    throw std::logic_error("chat prompt: the image segment does not hold query_num placeholders");

  cpmbee::CpmBeeInputs inputs;
  inputs.input_ids = input.input_ids;
  inputs.input_id_subs = input.input_id_subs;
  inputs.positions = input.input_pos;
  inputs.context = input.context;
  inputs.sample_ids = input.sample_ids;
  inputs.num_segments = input.num_segments;
  inputs.segment_ids = input.segment_ids;
  inputs.segment_rel_offset = input.segment_rel_offset;
  inputs.segment_rel = input.segment_rel;
  inputs.ext_table_ids = input.ext_table_ids;
  inputs.ext_table_sub = input.ext_table_sub;
  at::Tensor embedding = cpmbee::splice_image_states(llm.embed(input.input_ids, input.input_id_subs), input.image_bound,
                                                     vision_states_.unsqueeze(0));

  // Cache rows = beams; room for the prompt and the longest answer the decoder can feed.
  const int64_t rows = beam ? config.beam_size : 1;
  const int64_t capacity = input.length + std::max<int64_t>(1, beam ? config.max_length + 2 : config.max_length);
  if (!cache_.defined() || cache_.batch() != rows || cache_.capacity() < capacity) {
    cache_ = cpmbee::KvCache();  // release the old buffers before allocating
    memory::require(cpmbee::KvCache::bytes_needed(llm.config(), rows, capacity, llm.dtype()),
                    "this answer's KV cache (" + std::to_string(rows) + (beam ? " beams" : " row") + " x " +
                        std::to_string(capacity) + " positions: the prompt's " + std::to_string(input.length) +
                        " + max_length " + std::to_string(config.max_length) + ")",
                    llm.device(), "lower max_length" + std::string(beam ? " or the beam size" : ""));
    cache_ = llm.new_cache(rows, capacity);
  } else {
    cache_.clear();
  }
  decoding::check_cancelled(callbacks);
  llm.prefill(inputs, cache_, embedding, cpmbee::LogitsMode::kNone);

  decoding::DecodeSpec spec;
  spec.vocab_size = llm.config().vocab_size;
  spec.ext_ids = int_vector(input.ext_table_ids);
  spec.ext_subs = int_vector(input.ext_table_sub);
  for (const auto& [id, s] : input.decode_table.items()) spec.generatable_ids.push_back(id);
  spec.bos_id = tokenizer.bos_id();
  spec.eos_id = tokenizer.eos_id();
  spec.unk_id = tokenizer.unk_id();
  const text::IdTextTable& table = input.decode_table;
  if (config.escape_text) {
    spec.text = [&](const std::vector<int32_t>& ids) { return display_text(tokenizer, table, ids); };
  } else {
    spec.text = [&](const std::vector<int32_t>& ids) { return tokenizer.decode(ids, table); };
  }

  CpmBeeStepper stepper(llm, cache_, answer_segment);
  decoding::GenerationResult result;
  if (beam) {
    if (trace) trace->answer_segment = answer_segment;
    result = decoding::beam_search(stepper, spec, config, llm.device(), callbacks, trace);
  } else {
    result = decoding::sample_search(stepper, spec, config, llm.device(), callbacks);
  }

  ChatTurn turn;
  const std::vector<int32_t> answer_ids = result.answer_ids();
  turn.model_answer = tokenizer.decode(answer_ids, table);
  turn.answer = config.escape_text ? display_text(tokenizer, table, answer_ids) : turn.model_answer;
  turn.token_ids = result.token_ids;
  turn.ended_with_eos = result.ended_with_eos;
  turn.sum_logprobs = result.sum_logprobs;
  turn.score = result.score;
  turn.prompt_input_ids = int_vector(input.input_ids);
  turn.model_steps = result.model_steps;
  turn.encoded_image = fresh_states_;
  turn.context_before = context_;
  turn.context_after = context_ + "User: " + question_text + "\n" + "AI: " + turn.model_answer + "\n";
  context_ = turn.context_after;
  fresh_states_ = false;
  return turn;
}

}  // namespace viscpm::chat
