#include "decoding/decoding.h"

#include <ATen/ops/empty.h>

#include <algorithm>

#include "common/error.h"

#include <cmath>

namespace viscpm::decoding {

const char* decoding_strategy_name(DecodingStrategy strategy) {
  switch (strategy) {
    case DecodingStrategy::kBeamSearch: return "beam_search";
    case DecodingStrategy::kGreedy: return "greedy";
    case DecodingStrategy::kSampling: return "sampling";
  }
  return "?";
}

void GenerationConfig::validate() const {
  auto fail = [](const std::string& m) { throw InvalidArgument("generation config: " + m); };
  if (strategy == DecodingStrategy::kBeamSearch && (beam_size < 1 || beam_size > kMaxBeamSize))
    fail("beam_size must be between 1 and " + std::to_string(kMaxBeamSize) + ", got " + std::to_string(beam_size));
  if (max_length < 0 || max_length > kMaxLengthLimit)
    fail("max_length must be between 0 and " + std::to_string(kMaxLengthLimit) + ", got " + std::to_string(max_length));
  if (strategy != DecodingStrategy::kGreedy && !(std::isfinite(temperature) && temperature > 0))
    fail("temperature must be a positive number, got " + std::to_string(temperature));
  if (!(std::isfinite(repetition_penalty) && repetition_penalty >= 1.0))
    fail("repetition_penalty must be >= 1 (1 disables it), got " + std::to_string(repetition_penalty));
  if (!std::isfinite(length_penalty)) fail("length_penalty must be finite");
  if (top_k < 0) fail("top_k must be >= 0 (0 keeps every token), got " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1.0)) fail("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (max_input_length < 2) fail("max_input_length must be >= 2, got " + std::to_string(max_input_length));
}

std::vector<int32_t> GenerationResult::answer_ids() const {
  std::vector<int32_t> ids = token_ids;
  if (ended_with_eos && !ids.empty()) ids.pop_back();
  return ids;
}

void check_cancelled(const GenerationCallbacks& callbacks) {
  if (callbacks.cancel != nullptr && callbacks.cancel->load(std::memory_order_relaxed))
    throw Cancelled("generation cancelled");
  if (callbacks.should_continue && !callbacks.should_continue()) throw Cancelled("generation cancelled by the listener");
}

at::Tensor upload_rows(const std::vector<std::vector<int64_t>>& fields, at::Device device) {
  const int64_t rows = static_cast<int64_t>(fields.size()), cols = rows ? static_cast<int64_t>(fields[0].size()) : 0;
  at::Tensor host = at::empty({rows, cols}, at::TensorOptions().dtype(at::kLong));
  int64_t* data = host.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    if (static_cast<int64_t>(fields[r].size()) != cols) throw InvalidArgument("upload_rows: rows of different lengths");
    std::copy(fields[r].begin(), fields[r].end(), data + r * cols);
  }
  return device.is_cpu() ? host : host.to(device, /*non_blocking=*/false);
}

}  // namespace viscpm::decoding
