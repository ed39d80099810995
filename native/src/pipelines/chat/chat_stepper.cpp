#include "pipelines/chat/chat_stepper.h"

#include <ATen/ops/full.h>

#include "common/error.h"

namespace viscpm::chat {

CpmBeeStepper::CpmBeeStepper(const cpmbee::CpmBeeImpl& model, cpmbee::KvCache& cache, int64_t answer_segment)
    : model_(model), cache_(cache) {
  segments_ = at::full({cache.batch()}, answer_segment, at::TensorOptions().dtype(at::kLong).device(model.device()));
  model_.prepare_trusted_steps(cache_, segments_);  // once per turn: the prompt columns
}

at::Tensor CpmBeeStepper::step(const decoding::StepTokens& tokens) {
  cpmbee::StepInputs step;
  step.token_ids = tokens.ids;
  step.token_subs = tokens.subs;
  step.positions = tokens.positions;
  step.segment_ids = segments_;
  step.trusted = true;  // the decoder's own tokens: no value checks, no host reads
  return model_.decode_step(step, cache_).logits;
}

void CpmBeeStepper::reorder(const at::Tensor& parents) { cache_.reorder(parents, /*trusted=*/true); }

}  // namespace viscpm::chat
