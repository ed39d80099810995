// Golden kind `paint_input`: {caption, objects} inputs of the prompt and of the negative
// prompt, each collated as a batch of one and right-padded to the longer of the two.
#include "testkit/parity/kinds.h"
#include "testkit/kinds/text_support.h"
#include "text/structured_input.h"

namespace viscpm::parity {

void run_paint_input(const Case& c, Result& r) {
  const auto tokenizer = text::parity_tokenizer(c);
  const json& in = c.inputs_json();
  const std::string prompt = in.at("prompt").get<std::string>();
  const std::string negative =
      in.contains("negative_prompt") && !in["negative_prompt"].is_null() ? in["negative_prompt"].get<std::string>() : "";
  const text::PaintInputs p = text::build_paint_inputs(*tokenizer, prompt, negative);

  std::map<std::string, at::Tensor> tensors;
  for (const auto& [prefix, f] : {std::pair<std::string, const text::ForwardInput*>{"cond.", &p.cond}, {"uncond.", &p.uncond}}) {
    tensors[prefix + "input_ids"] = f->input_ids;
    tensors[prefix + "input_id_subs"] = f->input_id_subs;
    tensors[prefix + "context"] = f->context;
    tensors[prefix + "segment_ids"] = f->segment_ids;
    tensors[prefix + "segment_rel_offset"] = f->segment_rel_offset;
    tensors[prefix + "segment_rel"] = f->segment_rel;
    tensors[prefix + "sample_ids"] = f->sample_ids;
    tensors[prefix + "num_segments"] = f->num_segments;
    tensors[prefix + "length"] = f->length;
    tensors[prefix + "span"] = f->span;
    tensors[prefix + "ext_table_ids"] = f->ext_table_ids;
    tensors[prefix + "ext_table_sub"] = f->ext_table_sub;
    tensors[prefix + "image_bound"] = f->image_bound;
  }
  text::compare_all_expected(c, r, tensors);
}

}  // namespace viscpm::parity
