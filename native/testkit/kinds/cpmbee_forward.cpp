// Golden kind `cpmbee_forward`: the full-sequence forward of the paint CPM-Bee on one
// prepared input; embeddings, final hidden states and logit summaries compared.
#include "testkit/kinds/cpmbee_support.h"
#include "testkit/parity/kinds.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/logsumexp.h>

namespace viscpm::parity {

void run_cpmbee_forward(const Case& c, Result& r) {
  auto model = cpmbee::parity_model(c);
  c10::InferenceMode guard;
  cpmbee::CpmBeeInputs in;
  in.input_ids = c.input("input_ids");
  in.input_id_subs = c.input("input_id_subs");
  in.context = c.input("context");
  in.sample_ids = c.input("sample_ids");
  in.num_segments = c.input("num_segments");
  in.segment_ids = c.input("segment_ids");
  in.segment_rel_offset = c.input("segment_rel_offset");
  in.segment_rel = c.input("segment_rel");
  in.length = c.input("length");
  in.span = c.input("span");
  in.ext_table_ids = c.input("ext_table_ids");
  in.ext_table_sub = c.input("ext_table_sub");
  const auto out = (*model)->forward(in, {}, cpmbee::LogitsMode::kAll);
  const at::Tensor logits = out.logits.cpu();
  const at::Tensor columns = c.expected("logits_columns").to(at::kLong);
  r.compare(c, "input_embedding", out.input_embedding.cpu());
  r.compare(c, "hidden_states", out.hidden_states.cpu());
  r.compare(c, "logits_columns", columns);  // the fixture's choice of columns, used as given
  r.compare(c, "logits_at_columns", logits.index_select(-1, columns));
  r.compare(c, "logits_logsumexp", at::logsumexp(logits, -1));
  r.compare(c, "logits_argmax", logits.argmax(-1));
  r.compare(c, "logits_last2", logits.narrow(1, logits.size(1) - 2, 2));
}

}  // namespace viscpm::parity
