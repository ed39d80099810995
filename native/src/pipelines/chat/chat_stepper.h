// decoding::TokenStepper over CPM-Bee's incremental pass: every fed token goes into the answer
// segment with context = 1, sample 0 and the last prompt token's num_segments /
// segment_rel_offset (chat.md §4.3 step 1); reorder() moves the KV-cache rows.
#pragma once

#include "cpmbee/model.h"
#include "decoding/decoding.h"

namespace viscpm::chat {

class CpmBeeStepper : public decoding::TokenStepper {
 public:
  // `model` and `cache` (already prefilled) must outlive the stepper.
  CpmBeeStepper(const cpmbee::CpmBeeImpl& model, cpmbee::KvCache& cache, int64_t answer_segment);

  int64_t rows() const override { return cache_.batch(); }
  at::Tensor step(const decoding::StepTokens& tokens) override;
  void reorder(const at::Tensor& parents) override;

 private:
  const cpmbee::CpmBeeImpl& model_;
  cpmbee::KvCache& cache_;
  at::Tensor segments_;  // [rows] answer segment, on the model's device
};

}  // namespace viscpm::chat
