// A plain transliteration of the reference's cached inference (CPMBeeTorch.inference and
// the beam-search buffer reorder) in unfused LibTorch ops, over the parameters of a
// CpmBee model: separate q/k/v products, torch.cat-grown K/V buffers, the full mask and
// bias rebuilt from the concatenated buffers on every call, the ext table re-embedded
// every call, full-buffer reorders. It is the correctness oracle of the tests and the
// baseline of benchmarks/cpmbee_decode_bench.cpp; production code uses CpmBee.
#pragma once

#include "cpmbee/model.h"

#include <vector>

namespace viscpm::cpmbee::reference {

struct Buffers {  // CPMBeeInferenceState
  at::Tensor position, context, sample_ids, num_segments, segments;  // [B, T]
  std::vector<at::Tensor> k, v;                                      // per layer [B, H, T, dh]
  bool empty() const { return !position.defined(); }
};

// One inference call: inputs [B, L] (positions required), appended to `buffers`.
// Returns logits [B, L, V+E] and final hidden states [B, L, D].
ForwardOutput inference(const CpmBeeImpl& model, const CpmBeeInputs& inputs, Buffers& buffers,
                        const at::Tensor& hidden_states = {});

// Beam-search reorder: every buffer row b <- row index[b].
void reorder(Buffers& buffers, const at::Tensor& index);

}  // namespace viscpm::cpmbee::reference
