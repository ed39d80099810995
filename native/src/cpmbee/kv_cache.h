// Key/value cache of the incremental pass for a batch of rows (beams), plus the
// per-request constants the steps reuse (relation table, ext-table rows, the position
// bias/mask of the prompt keys). Preallocated for `capacity` tokens: steps never
// reallocate. Not thread-safe: one cache per request; the model itself may be shared.
#pragma once

#include "cpmbee/config.h"
#include "cpmbee/layers.h"

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace viscpm::cpmbee {

class CpmBeeImpl;

class KvCache {
 public:
  KvCache() = default;  // placeholder; use CpmBeeImpl::new_cache
  // OutOfMemory (before allocating) when bytes_needed() exceeds the memory available.
  KvCache(const CpmBeeConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype, at::Device device);
  // Bytes a cache of `batch` rows x `capacity` positions allocates (as a double: callers
  // check absurd requests before any integer arithmetic can overflow).
  static double bytes_needed(const CpmBeeConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype);
  // Move-only: a copy would share the storage but not the length bookkeeping.
  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  bool defined() const { return kv_.defined(); }
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  // Leading keys that are identical in every row (a prompt prefilled once for all beams);
  // reorder() leaves them in place.
  int64_t shared_length() const { return shared_length_; }
  int64_t num_layers() const { return num_layers_; }

  // Views of the cached state, [B, H, length, dh] and [B, length].
  at::Tensor keys(int64_t layer) const;
  at::Tensor values(int64_t layer) const;
  at::Tensor key_positions() const { return field(kPosition); }
  at::Tensor key_context() const { return field(kContext).ne(0); }
  at::Tensor key_sample_ids() const { return field(kSample); }
  at::Tensor key_num_segments() const { return field(kNumSegments); }
  at::Tensor key_segments() const { return field(kSegment); }

  // Beam search: new row b takes old row beam_idx[b] (int, [batch], values in [0, batch)).
  // Only the non-shared tail is copied. Throws InvalidArgument on a bad index tensor.
  // trusted: the caller guarantees the values are in range (a decoder's own parents), so
  // nothing is read from the device.
  void reorder(const at::Tensor& beam_idx, bool trusted = false);
  // Forgets all tokens (keeps the allocation) so the cache can serve a new request.
  void clear();

 private:
  friend class CpmBeeImpl;
  enum FieldIndex { kPosition = 0, kContext, kSample, kNumSegments, kSegment, kNumFields };
  at::Tensor field(int64_t which) const { return fields_[which].narrow(1, 0, length_); }
  LayerKv layer_kv(int64_t layer) const { return {kv_[layer][0], kv_[layer][1]}; }
  void invalidate_prefix_tables() { prefix_valid_ = false; }

  int64_t batch_ = 0, capacity_ = 0, length_ = 0, shared_length_ = 0, num_layers_ = 0;
  at::Tensor kv_;        // [layers, 2, B, H, capacity, dh], parameter dtype
  at::Tensor fields_;    // [kNumFields, B, capacity] int64, per cached token

  // Request constants, set by the first prefill.
  at::Tensor segment_rel_;      // [B, R] int64
  at::Tensor ext_rows_;         // [E, D] embeddings of the ext table
  at::Tensor last_num_segments_, last_rel_offset_;  // [B] defaults for steps
  bool has_request_ = false;

  // Step tables: bias [B, H, 1, capacity] and blocked [B, 1, 1, capacity]. The columns of
  // the first prefix_length_ keys (the prompt) are built once and reused while the query
  // fields that determine them are unchanged (see CpmBeeImpl::decode_step).
  at::Tensor step_bias_, step_blocked_;
  int64_t prefix_length_ = 0;
  bool prefix_valid_ = false;
  at::Tensor prefix_query_;          // [B, 5] query fields the prefix tables were built for
};

}  // namespace viscpm::cpmbee
