// Next-token scores of the reference's chat decoder (chat.md §4.3 steps 2-5), in its order
// and with its rounding points:
//   1. disallowed columns -> -10000: UNK unless the prompt's decoding table maps it, and
//      every ext column the decoding table does not map;
//   2. repetition penalty on each distinct token fed since the answer started (BOS and the
//      class id of fed ext tokens included): l < 0 ? l * p : l / p;
//   3. division by the temperature;
//   4. log-softmax computed in fp32 and rounded to the logits' dtype, returned as fp32.
// Every element-wise step runs in the logits' dtype (one rounding per operation for
// fp16/bf16, as the reference's fp16 tensors), so fp32 and fp16 both follow the reference.
//
// Immutable after construction; the column mask is built once, on the model's device.
#pragma once

#include "decoding/decoding.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace viscpm::decoding {

class LogitsProcessor {
 public:
  LogitsProcessor(const DecodeSpec& spec, double temperature, double repetition_penalty, at::Device device);

  int64_t logit_width() const { return width_; }

  // Step 1 (out of place): logits [R, V'] with the disallowed columns set to -10000.
  at::Tensor mask_disallowed(const at::Tensor& logits) const;
  // Step 2, in place: row r is penalised on the distinct ids of fed[r].
  void apply_repetition_penalty_(at::Tensor& logits, const std::vector<std::vector<int32_t>>& fed) const;
  // Step 2 with the decoder's device-side state: fed_ids [R, T] int64, the ids row r was fed
  // (repeats allowed: every copy writes the same value). Same values as the list form, no
  // host data, and work proportional to R x T, not to the vocabulary.
  void apply_repetition_penalty_(at::Tensor& logits, const at::Tensor& fed_ids) const;
  // Step 3 (out of place).
  at::Tensor apply_temperature(const at::Tensor& logits) const;
  // Step 4: fp32 log-softmax over the last dimension, rounded once to logits' dtype, as fp32.
  static at::Tensor log_softmax_rounded(const at::Tensor& logits);

  // Steps 1-3: the processed logits in the model's dtype.
  at::Tensor process(const at::Tensor& logits, const std::vector<std::vector<int32_t>>& fed) const;
  // Steps 1-4: fp32 log-probabilities [R, V'].
  at::Tensor log_probs(const at::Tensor& logits, const std::vector<std::vector<int32_t>>& fed) const;
  at::Tensor log_probs(const at::Tensor& logits, const at::Tensor& fed_ids) const;

 private:
  int64_t width_;
  double temperature_, repetition_penalty_;
  at::Device device_;
  at::Tensor disallowed_;  // int64 column indices
};

}  // namespace viscpm::decoding
