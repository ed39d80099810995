// Model inputs of CPM-Bee (cpmbee.md §7, input-format.md §5-§7) and their validation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace viscpm::cpmbee {

// Per-token fields of B rows of L tokens, as produced by the input builder. Integer
// tensors may be int32 or int64, on any device; context may be bool or any integer type
// (non-zero = context token).
struct CpmBeeInputs {
  at::Tensor input_ids;           // [B, L]
  at::Tensor input_id_subs;       // [B, L]
  at::Tensor positions;           // [B, L] cached pass only (the full pass uses 0..L-1);
                                  //        undefined = 0..L-1
  at::Tensor context;             // [B, L]
  at::Tensor sample_ids;          // [B, L]
  at::Tensor num_segments;        // [B, L] (0 marks padding)
  at::Tensor segment_ids;         // [B, L]
  at::Tensor segment_rel_offset;  // [B, L]
  at::Tensor segment_rel;         // [B, R] flattened relation tables
  at::Tensor ext_table_ids;       // [E] (undefined or empty: no ext logit columns)
  at::Tensor ext_table_sub;       // [E]
  at::Tensor length;              // [B] full pass only; undefined = L
  at::Tensor span;                // [B, L] full pass only; undefined = all 0
};

// One new token per row (beam) for an incremental step (cpmbee.md §7.2, chat.md §4).
struct StepInputs {
  at::Tensor token_ids;           // [B]
  at::Tensor token_subs;          // [B]
  at::Tensor positions;           // [B]
  at::Tensor segment_ids;         // [B]
  at::Tensor context;             // [B]; undefined = all true (the chat flow feeds context = 1)
  at::Tensor sample_ids;          // [B]; undefined = all 0
  at::Tensor num_segments;        // [B]; undefined = the last prefilled token's value per row
  at::Tensor segment_rel_offset;  // [B]; undefined = the last prefilled token's value per row
  // The decoders' path: the caller guarantees ids inside the vocabulary and segment fields
  // inside the request's relation table, so the step checks no values and reads nothing
  // from the device (masks and prompt columns are then built unconditionally; same result).
  bool trusted = false;
};

// Validated fields: int64 (context: bool) on the model's device, [B, N].
struct TokenFields {
  at::Tensor ids, subs, positions, context, sample_ids, num_segments, segments, rel_offset, span;
  int64_t batch() const { return ids.size(0); }
  int64_t length() const { return ids.size(1); }
  TokenFields expand_rows(int64_t rows) const;  // broadcast a batch-1 set to `rows`
};

enum class Pass { kFull, kCached };

// Checks ranks, shapes, dtypes and id ranges; throws InvalidArgument naming the field.
TokenFields prepare_tokens(const CpmBeeInputs& in, int64_t vocab_size, at::Device device, Pass pass);
// Validates ext table ids/subs -> int64 [E] pair (empty tensors when absent).
std::pair<at::Tensor, at::Tensor> prepare_ext_table(const at::Tensor& ids, const at::Tensor& subs,
                                                    int64_t vocab_size, at::Device device);
// segment_rel [B, R] -> int64 on device; `batch` is the token batch.
at::Tensor prepare_segment_rel(const at::Tensor& segment_rel, int64_t batch, at::Device device);

// Overwrites the rows image_bound[b] = [begin, end) of embeddings[b] with states[b]
// (chat.md §3). embeddings [B, L, D] (modified in place and returned); image_bound
// [B, 1, 2], [B, 2] or [2]; states [B, n, D] or [n, D], cast to the embedding dtype.
at::Tensor splice_image_states(at::Tensor embeddings, const at::Tensor& image_bound, const at::Tensor& states);

}  // namespace viscpm::cpmbee
