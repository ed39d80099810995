#include "pipelines/chat/chat_stepper.h"

#include <ATen/ops/full.h>
#include <ATen/ops/tensor.h>

#include "common/error.h"

namespace viscpm::chat {

CpmBeeStepper::CpmBeeStepper(const cpmbee::CpmBeeImpl& model, cpmbee::KvCache& cache, int64_t answer_segment)
    : model_(model), cache_(cache) {
  segments_ = at::full({cache.batch()}, answer_segment, at::TensorOptions().dtype(at::kLong).device(model.device()));
}

at::Tensor CpmBeeStepper::step(const std::vector<decoding::FedToken>& tokens) {
  if (static_cast<int64_t>(tokens.size()) != rows())
    throw InvalidArgument("CPM-Bee step: " + std::to_string(tokens.size()) + " tokens for " + std::to_string(rows()) + " rows");
  // One small host buffer [3, rows] -> one transfer.
  std::vector<int64_t> host(3 * tokens.size());
  const size_t n = tokens.size();
  for (size_t r = 0; r < n; ++r) {
    host[r] = tokens[r].id;
    host[n + r] = tokens[r].sub;
    host[2 * n + r] = tokens[r].position;
  }
  const at::Tensor fields = at::tensor(host, at::kLong).view({3, static_cast<int64_t>(n)}).to(model_.device());
  cpmbee::StepInputs step;
  step.token_ids = fields[0];
  step.token_subs = fields[1];
  step.positions = fields[2];
  step.segment_ids = segments_;
  return model_.decode_step(step, cache_).logits;
}

void CpmBeeStepper::reorder(const std::vector<int64_t>& parents) {
  cache_.reorder(at::tensor(parents, at::kLong));
}

}  // namespace viscpm::chat
