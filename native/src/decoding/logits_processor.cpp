#include "decoding/logits_processor.h"

#include <ATen/ops/log_softmax.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include "common/error.h"

#include <algorithm>
#include <unordered_set>

namespace viscpm::decoding {

namespace {
constexpr double kDisallowedLogit = -10000.0;  // the reference's fill value (exact in fp16)
}

LogitsProcessor::LogitsProcessor(const DecodeSpec& spec, double temperature, double repetition_penalty,
                                 at::Device device)
    : width_(spec.logit_width()), temperature_(temperature), repetition_penalty_(repetition_penalty), device_(device) {
  if (spec.vocab_size <= 0) throw InvalidArgument("logits processor: vocab_size must be positive");
  if (spec.ext_ids.size() != spec.ext_subs.size())
    throw InvalidArgument("logits processor: ext table ids and subs differ in length");
  const std::unordered_set<int32_t> generatable(spec.generatable_ids.begin(), spec.generatable_ids.end());
  std::vector<int64_t> columns;
  if (spec.unk_id >= 0 && spec.unk_id < spec.vocab_size && !generatable.count(spec.unk_id))
    columns.push_back(spec.unk_id);
  for (int64_t e = spec.vocab_size; e < width_; ++e)
    if (!generatable.count(static_cast<int32_t>(e))) columns.push_back(e);
  disallowed_ = at::tensor(columns, at::kLong).to(device);
}

at::Tensor LogitsProcessor::mask_disallowed(const at::Tensor& logits) const {
  if (logits.dim() != 2 || logits.size(1) != width_)
    throw InvalidArgument("logits processor: logits must be [rows, " + std::to_string(width_) + "]");
  if (disallowed_.numel() == 0) return logits.clone();
  return logits.index_fill(1, disallowed_, kDisallowedLogit);
}

void LogitsProcessor::apply_repetition_penalty_(at::Tensor& logits,
                                                const std::vector<std::vector<int32_t>>& fed) const {
  if (repetition_penalty_ == 1.0) return;
  if (static_cast<int64_t>(fed.size()) != logits.size(0))
    throw InvalidArgument("logits processor: one fed-token list per row expected");
  // Flat indices of every distinct (row, token): one gather and one scatter for all rows.
  std::vector<int64_t> flat;
  for (size_t r = 0; r < fed.size(); ++r) {
    std::vector<int32_t> ids = fed[r];
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (int32_t id : ids) {
      if (id < 0 || id >= width_) throw InvalidArgument("logits processor: fed token id " + std::to_string(id) + " outside the logits");
      flat.push_back(static_cast<int64_t>(r) * width_ + id);
    }
  }
  if (flat.empty()) return;
  at::Tensor index = at::tensor(flat, at::kLong).to(logits.device());
  at::Tensor view = logits.view({-1});
  at::Tensor values = view.index_select(0, index);
  // Same scalar operations as the reference (l * p, l / p): one rounding in the logits dtype.
  at::Tensor penalised = at::where(values.lt(0), values.mul(repetition_penalty_), values.div(repetition_penalty_));
  view.index_copy_(0, index, penalised);
}

void LogitsProcessor::apply_repetition_penalty_(at::Tensor& logits, const at::Tensor& fed_ids) const {
  if (repetition_penalty_ == 1.0) return;
  if (!fed_ids.defined() || fed_ids.dim() != 2 || fed_ids.size(0) != logits.size(0))
    throw InvalidArgument("logits processor: fed ids must be [rows, T]");
  if (fed_ids.size(1) == 0) return;
  // Gathered before any write, so a repeated id writes the same value twice.
  at::Tensor values = logits.gather(1, fed_ids);
  at::Tensor penalised = at::where(values.lt(0), values.mul(repetition_penalty_), values.div(repetition_penalty_));
  logits.scatter_(1, fed_ids, penalised);
}

at::Tensor LogitsProcessor::apply_temperature(const at::Tensor& logits) const { return logits.div(temperature_); }

at::Tensor LogitsProcessor::log_softmax_rounded(const at::Tensor& logits) {
  at::Tensor lp = at::log_softmax(logits.to(at::kFloat), -1);
  if (logits.scalar_type() != at::kFloat) lp = lp.to(logits.scalar_type()).to(at::kFloat);
  return lp;
}

at::Tensor LogitsProcessor::process(const at::Tensor& logits, const std::vector<std::vector<int32_t>>& fed) const {
  at::Tensor l = mask_disallowed(logits);
  apply_repetition_penalty_(l, fed);
  return apply_temperature(l);
}

at::Tensor LogitsProcessor::log_probs(const at::Tensor& logits, const std::vector<std::vector<int32_t>>& fed) const {
  return log_softmax_rounded(process(logits, fed));
}

at::Tensor LogitsProcessor::log_probs(const at::Tensor& logits, const at::Tensor& fed_ids) const {
  at::Tensor l = mask_disallowed(logits);
  apply_repetition_penalty_(l, fed_ids);
  return log_softmax_rounded(apply_temperature(l));
}

}  // namespace viscpm::decoding
