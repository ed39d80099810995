// Golden kind `chat_beam_search`: VisCPM-Chat turns with the reference's beam search,
// recorded step by step through the search trace (fixtures README, chat_beam_search).
#include "pipelines/chat/chat_model.h"
#include "testkit/parity/kinds.h"

#include "common/error.h"
#include "vision/image.h"

namespace viscpm::parity {
namespace {

// The chat model of the case: checkpoint of the case, configs of the manifest's model entry
// whose dir is the case's model (else <model dir>/cpm-bee.json, beit3.json), the manifest's
// vocabulary. Loaded once per suite, fp32.
std::shared_ptr<chat::ChatModel> parity_chat_model(const Case& c) {
  chat::ChatModelPaths paths;
  const std::string model = c.entry().at("model").get<std::string>();
  const auto& manifest = c.suite().manifest();
  paths.checkpoint = c.checkpoint();
  paths.cpm_bee_config = c.model_dir() / "cpm-bee.json";
  paths.beit3_config = c.model_dir() / "beit3.json";
  const json models = manifest.value("models", json::object());
  for (const auto& [name, entry] : models.items()) {
    if (entry.value("dir", std::string()) != model) continue;
    if (entry.contains("cpm_bee_config")) paths.cpm_bee_config = c.suite().resolve(entry["cpm_bee_config"].get<std::string>());
    if (entry.contains("beit3_config")) paths.beit3_config = c.suite().resolve(entry["beit3_config"].get<std::string>());
  }
  if (!manifest.contains("vocab")) throw FormatError("manifest names no vocab");
  paths.vocabulary = c.suite().resolve(manifest["vocab"].get<std::string>());
  const auto device = c.suite().device();
  const std::string key = "chat_model|" + paths.checkpoint.string() + "|" + paths.cpm_bee_config.string() + "|" +
                          paths.beit3_config.string() + "|" + paths.vocabulary.string() + "|" + device.str();
  return c.suite().cached<chat::ChatModel>(key, [&] {
    chat::ChatModelOptions options;
    options.device = device;
    options.dtype = at::kFloat;
    return chat::ChatModel::load(paths, options);
  });
}

template <class T>
json number_list(const std::vector<T>& values) {
  json out = json::array();
  for (const auto& v : values) out.push_back(v);
  return out;
}

json trace_json(const decoding::BeamSearchTrace& trace, json& topk, json& hypotheses) {
  json steps = json::array();
  for (const auto& s : trace.steps) {
    json step = json::object();
    step["i"] = s.i;
    step["beam_scores"] = number_list(s.beam_scores);
    step["fed_token_ids"] = number_list(s.token_ids);
    step["fed_token_subs"] = number_list(s.token_subs);
    step["fed_positions"] = number_list(s.positions);
    step["fed_segments"] = number_list(s.segments);
    steps.push_back(std::move(step));
  }
  topk = json::array();
  for (const auto& t : trace.topk) {
    json entry = json::object();
    entry["i"] = t.i;
    entry["scores"] = number_list(t.scores);
    entry["flat_ids"] = number_list(t.flat_ids);
    entry["min_gap"] = t.min_gap;
    topk.push_back(std::move(entry));
  }
  hypotheses = json::array();
  for (const auto& h : trace.hypotheses_added) {
    json entry = json::object();
    entry["i"] = h.i;
    entry["token_ids"] = number_list(h.token_ids);
    entry["sum_logprobs"] = h.sum_logprobs;
    entry["score"] = h.score;
    hypotheses.push_back(std::move(entry));
  }
  return steps;
}

}  // namespace

void run_chat_beam_search(const Case& c, Result& r) {
  const auto model = parity_chat_model(c);
  const json& in = c.inputs_json();
  const json& params = c.params();

  decoding::GenerationConfig config;
  config.strategy = decoding::DecodingStrategy::kBeamSearch;
  config.beam_size = params.value("beam_size", config.beam_size);
  config.temperature = params.value("temperature", config.temperature);
  config.repetition_penalty = params.value("repetition_penalty", config.repetition_penalty);
  config.length_penalty = params.value("length_penalty", config.length_penalty);
  config.max_input_length = params.value("max_inp_length", config.max_input_length);
  config.max_length = in.contains("max_length") ? in["max_length"].get<int64_t>() : params.value("max_length", config.max_length);
  config.escape_text = false;  // the reference inserts the question as written

  const vision::Image image = vision::Image::read_file(c.input_file(in.at("image").get<std::string>()));
  chat::ChatSession session = model->start_session(image.view(), in.value("context", std::string()));
  r.compare(c, "vision_hidden_states", session.vision_states().unsqueeze(0).to(at::kFloat).cpu());

  json turns = json::array();
  for (const auto& question : in.at("questions")) {
    decoding::BeamSearchTrace trace;
    const chat::ChatTurn turn = session.ask(question.get<std::string>(), config, {}, &trace);
    json topk, hypotheses;
    json steps = trace_json(trace, topk, hypotheses);
    json t = json::object();
    t["question"] = question;
    t["context_in"] = turn.context_before;
    t["answer"] = turn.model_answer;
    t["context_out"] = turn.context_after;
    t["prompt_input_ids"] = number_list(turn.prompt_input_ids);
    t["best_hypothesis_token_ids"] = number_list(turn.token_ids);
    t["steps"] = std::move(steps);
    t["topk"] = std::move(topk);
    t["hypotheses_added"] = std::move(hypotheses);
    t["used_vision_hidden_states_from_previous_turn"] = !turn.encoded_image;
    turns.push_back(std::move(t));
  }
  json actual = json::object();
  actual["turns"] = std::move(turns);
  r.compare_json(c, "json", actual, c.expected_json());
}

}  // namespace viscpm::parity
