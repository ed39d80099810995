// Golden kind `cpmbee_incremental`: prefill of a chat prompt with the image states spliced
// in, then one-token steps reusing the cache; also the same tokens through the full
// forward as non-context answer tokens (both must agree with the reference).
#include "testkit/kinds/cpmbee_support.h"
#include "testkit/parity/kinds.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

namespace viscpm::parity {

void run_cpmbee_incremental(const Case& c, Result& r) {
  auto model = cpmbee::parity_model(c);
  auto& bee = **model;
  c10::InferenceMode guard;
  auto p = [&](const char* name) { return c.input(std::string("prompt.") + name); };
  cpmbee::CpmBeeInputs prompt;
  prompt.input_ids = p("input_ids");
  prompt.input_id_subs = p("input_id_subs");
  prompt.positions = p("input_pos");
  prompt.context = p("context");
  prompt.sample_ids = p("sample_idx");
  prompt.num_segments = p("num_segments");
  prompt.segment_ids = p("segment_ids");
  prompt.segment_rel_offset = p("segment_rel_offset");
  prompt.segment_rel = p("segment_rel");
  prompt.ext_table_ids = p("batch_ext_table_ids");
  prompt.ext_table_sub = p("batch_ext_table_sub");
  const at::Tensor image_bound = p("image_bound");
  const at::Tensor vision = c.input("vision_hidden_states");
  const at::Tensor step_ids = c.input("step_token_ids").to(at::kLong);
  const at::Tensor step_subs = c.input("step_token_subs").to(at::kLong);
  const int64_t answer_segment = c.params().at("answer_segment_id").get<int64_t>();
  const auto step_positions = c.params().at("step_positions").get<std::vector<int64_t>>();
  const int64_t prompt_len = prompt.input_ids.size(1), steps = step_ids.size(0);
  if (static_cast<int64_t>(step_positions.size()) != steps) {
    r.fail("step_positions", "params.step_positions and step_token_ids differ in length");
    return;
  }

  // Prefill with the image states spliced into the prompt embedding.
  at::Tensor embedding = cpmbee::splice_image_states(bee.embed(prompt.input_ids, prompt.input_id_subs), image_bound, vision);
  cpmbee::KvCache cache = bee.new_cache(1, prompt_len + steps);
  const auto prefill = bee.prefill(prompt, cache, embedding, cpmbee::LogitsMode::kLast);
  r.compare(c, "prefill_input_embedding", prefill.input_embedding.cpu());
  r.compare(c, "prefill_hidden_states", prefill.hidden_states.cpu());
  r.compare(c, "prefill_logits_last", prefill.logits.cpu());

  // One token at a time (context 1, sample 0, the last prompt token's num_segments/offset).
  std::vector<at::Tensor> hidden, logits;
  for (int64_t i = 0; i < steps; ++i) {
    cpmbee::StepInputs s;
    s.token_ids = step_ids.narrow(0, i, 1);
    s.token_subs = step_subs.narrow(0, i, 1);
    s.positions = at::full({1}, step_positions[i], at::kLong);
    s.segment_ids = at::full({1}, answer_segment, at::kLong);
    const auto out = bee.decode_step(s, cache);
    hidden.push_back(out.hidden_states.cpu());
    logits.push_back(out.logits.cpu());
  }
  r.compare(c, "step_hidden_states", at::cat(hidden, 0));
  r.compare(c, "step_logits", at::cat(logits, 0));

  // The full forward over prompt + steps, the steps as non-context answer tokens.
  auto append = [&](const at::Tensor& head, const at::Tensor& tail) {
    return at::cat({head.to(at::kLong), tail.to(at::kLong).reshape({1, steps})}, 1);
  };
  auto repeat_last = [&](const at::Tensor& t) {
    return append(t, t.to(at::kLong).select(1, prompt_len - 1).expand({steps}));
  };
  cpmbee::CpmBeeInputs full = prompt;
  full.positions = at::Tensor();
  full.input_ids = append(prompt.input_ids, step_ids);
  full.input_id_subs = append(prompt.input_id_subs, step_subs);
  full.context = append(prompt.context, at::zeros({steps}, at::kLong));
  full.sample_ids = append(prompt.sample_ids, at::zeros({steps}, at::kLong));
  full.num_segments = repeat_last(prompt.num_segments);
  full.segment_rel_offset = repeat_last(prompt.segment_rel_offset);
  full.segment_ids = append(prompt.segment_ids, at::full({steps}, answer_segment, at::kLong));
  at::Tensor full_embedding = at::cat({embedding, bee.embed(step_ids.unsqueeze(0), step_subs.unsqueeze(0))}, 1);
  const auto forward = bee.forward(full, full_embedding, cpmbee::LogitsMode::kAll);
  const at::Tensor columns = c.expected("logits_columns").to(at::kLong);
  r.compare(c, "logits_columns", columns);
  r.compare(c, "full_forward_hidden_states", forward.hidden_states.narrow(1, prompt_len, steps).cpu());
  r.compare(c, "full_forward_logits_at_columns",
            forward.logits.select(0, 0).narrow(0, prompt_len, steps).cpu().index_select(-1, columns));
}

}  // namespace viscpm::parity
