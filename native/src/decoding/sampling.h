// Single-row decoders (extensions; the reference only has beam search, chat.md §8):
// greedy (argmax) and top-k / top-p sampling from a seeded CPU generator. Both use the
// reference's logits processing (LogitsProcessor: masking, repetition penalty,
// temperature) and stop at EOS or after config.max_length tokens (the EOS counts).
#pragma once

#include <ATen/core/Generator.h>

#include "decoding/decoding.h"

namespace viscpm::decoding {

// `stepper` has one row and a prefilled prompt. config.strategy is kGreedy or kSampling.
// The same seed gives the same tokens (on the same device and dtype). Streams each new
// token's text through callbacks.on_text. Throws Cancelled, InvalidArgument.
GenerationResult sample_search(TokenStepper& stepper, const DecodeSpec& spec, const GenerationConfig& config,
                               at::Device device, const GenerationCallbacks& callbacks = {});

// The column of `log_probs` ([V'] fp32) that uniform draw `u` in [0, 1) selects after
// top-k / top-p filtering: a 0-d int64 tensor on log_probs' device (no host read).
at::Tensor sample_column(const at::Tensor& log_probs, int64_t top_k, double top_p, double u);
// sample_column with one draw from `generator` (CPU), read to the host. For tests.
int64_t sample_index(const at::Tensor& log_probs, int64_t top_k, double top_p, at::Generator& generator);

}  // namespace viscpm::decoding
