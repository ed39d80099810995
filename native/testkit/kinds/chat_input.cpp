// Golden kind `chat_input`: the structured input of one chat turn, raw conversion and
// the batch-1 model inputs after the answer segment is dropped.
#include "testkit/parity/kinds.h"
#include "testkit/kinds/text_support.h"
#include "text/structured_input.h"

namespace viscpm::parity {

void run_chat_input(const Case& c, Result& r) {
  const auto tokenizer = text::parity_tokenizer(c);
  const json& in = c.inputs_json();
  const json data = text::chat_turn_data(in.at("query_num").get<int>(), in.at("context").get<std::string>(),
                                         in.at("question").get<std::string>());
  std::optional<int64_t> max_inp_length;
  if (in.contains("max_inp_length") && !in["max_inp_length"].is_null())
    max_inp_length = in["max_inp_length"].get<int64_t>();
  const text::GenerationInput g = text::prepare_generation_input(*tokenizer, data, max_inp_length);
  const text::ConvertedInput& raw = g.raw;

  std::map<std::string, at::Tensor> tensors = {
      {"raw.input_ids", raw.input_ids_tensor()},
      {"raw.input_id_subs", raw.input_id_subs_tensor()},
      {"raw.context", raw.context_tensor()},
      {"raw.segment_ids", raw.segment_ids_tensor()},
      {"raw.segment_rel", raw.segment_rel_tensor()},
      {"raw.image_bound", raw.image_bound_tensor()},
      {"model.input_ids", g.input_ids},
      {"model.input_id_subs", g.input_id_subs},
      {"model.input_pos", g.input_pos},
      {"model.context", g.context},
      {"model.sample_idx", g.sample_ids},
      {"model.num_segments", g.num_segments},
      {"model.segment_ids", g.segment_ids},
      {"model.segment_rel_offset", g.segment_rel_offset},
      {"model.segment_rel", g.segment_rel},
      {"model.batch_ext_table_ids", g.ext_table_ids},
      {"model.batch_ext_table_sub", g.ext_table_sub},
      {"model.image_bound", g.image_bound},
  };
  text::compare_all_expected(c, r, tensors);

  json ext_table = json::object();
  for (const auto& [id, s] : raw.ext_table.items()) ext_table[std::to_string(id)] = s;
  json token_id_table = json::object();
  for (const auto& cls : raw.token_classes) {
    json subs = json::object();
    for (const auto& [fake_id, sub] : cls.subs) subs[std::to_string(fake_id)] = sub;
    token_id_table[cls.name] = subs;
  }
  json predict = json::array();
  for (const auto& slot : g.predict_segments) predict.push_back(json::array({slot.segment_id, slot.answer_number}));
  json decode_table = json::object();
  for (const auto& [id, s] : g.decode_table.items()) decode_table[std::to_string(id)] = s;

  json actual = json::object();
  actual["data"] = data;
  actual["raw"] = {{"data", g.data},
                   {"num_segments", raw.num_segments},
                   {"ext_table", ext_table},
                   {"token_id_table", token_id_table}};
  actual["other_info"] = {{"predict_segments", predict},
                          {"answer_placeholders", g.answer_placeholders},
                          {"ext_table", decode_table}};
  r.compare_json(c, "json", actual, c.expected_json());
}

}  // namespace viscpm::parity
