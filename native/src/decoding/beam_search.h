// Beam search exactly as the reference chat decoder (chat.md §4): B rows, scores
// [0, -1e9, ...], per step: feed, LogitsProcessor, + beam score (fp32), top 2B over all
// rows, the `is_done` test with the step index BEFORE the step's candidates are used, EOS
// (or the step i == max_length + 1) finishing a hypothesis scored sum / len^length_penalty,
// only the B best finished hypotheses kept, best by score. Greedy and sampling live in
// sampling.h.
#pragma once

#include "decoding/decoding.h"

namespace viscpm::decoding {

// Runs the search on a stepper whose rows() == config.beam_size and whose prompt is
// prefilled (every row identical). `trace` (optional) receives the fixture-shaped record
// of every step, candidate list and finished hypothesis. Streams through callbacks.on_text
// the text every still-possible answer shares. Throws Cancelled, InvalidArgument.
GenerationResult beam_search(TokenStepper& stepper, const DecodeSpec& spec, const GenerationConfig& config,
                             at::Device device, const GenerationCallbacks& callbacks = {},
                             BeamSearchTrace* trace = nullptr);

}  // namespace viscpm::decoding
