#include "cpmbee/kv_cache.h"

#include "common/error.h"
#include "common/memory.h"
#include "cpmbee/inputs.h"
#include "common/tensor_text.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

namespace viscpm::cpmbee {

double KvCache::bytes_needed(const CpmBeeConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype) {
  const double item = static_cast<double>(c10::elementSize(dtype));
  const double rows = double(batch) * double(capacity);
  return rows * (double(config.num_layers) * 2 * double(config.num_heads) * double(config.dim_head) * item  // K, V
                 + double(kNumFields) * 8                                                           // fields
                 + double(config.num_heads) * item + 1);                                           // step bias, mask
}

KvCache::KvCache(const CpmBeeConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype,
                 at::Device device)
    : batch_(batch), capacity_(capacity), num_layers_(config.num_layers) {
  if (batch <= 0) throw InvalidArgument("KV cache batch must be positive, got " + std::to_string(batch));
  if (capacity <= 0) throw InvalidArgument("KV cache capacity must be positive, got " + std::to_string(capacity));
  memory::require(bytes_needed(config, batch, capacity, dtype),
                  "a KV cache of " + std::to_string(batch) + " rows x " + std::to_string(capacity) + " positions",
                  device, "");
  c10::InferenceMode guard;
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  // One allocation for every layer's K and V: reorder() is then one gather per step.
  kv_ = at::empty({config.num_layers, 2, batch, config.num_heads, capacity, config.dim_head}, options);
  fields_ = at::zeros({kNumFields, batch, capacity}, options.dtype(at::kLong));
  step_bias_ = at::empty({batch, config.num_heads, 1, capacity}, options);
  step_blocked_ = at::empty({batch, 1, 1, capacity}, options.dtype(at::kBool));
}

at::Tensor KvCache::keys(int64_t layer) const { return kv_[layer][0].narrow(2, 0, length_); }
at::Tensor KvCache::values(int64_t layer) const { return kv_[layer][1].narrow(2, 0, length_); }

void KvCache::reorder(const at::Tensor& beam_idx, bool trusted) {
  if (!defined()) throw InvalidArgument("reorder on an unallocated KV cache");
  if (!beam_idx.defined() || beam_idx.dim() != 1 || beam_idx.size(0) != batch_ ||
      !at::isIntegralType(beam_idx.scalar_type(), /*includeBool=*/false))
    throw InvalidArgument("KV cache reorder needs an integer index of shape [" + std::to_string(batch_) + "], got " +
                          shape_string(beam_idx));
  c10::InferenceMode guard;
  at::Tensor index = beam_idx.to(kv_.device(), at::kLong);
  if (!trusted) {
    at::Tensor range = at::stack({index.min(), index.max()}).cpu();
    if (range[0].item<int64_t>() < 0 || range[1].item<int64_t>() >= batch_)
      throw InvalidArgument("KV cache reorder index out of range [0, " + std::to_string(batch_) + ")");
  }
  // Keys shared by every row (the broadcast prompt) are identical: only the tail moves.
  const int64_t tail = length_ - shared_length_;
  if (tail > 0) {
    at::Tensor region = kv_.narrow(4, shared_length_, tail);
    region.copy_(region.index_select(2, index));
    at::Tensor fields = fields_.narrow(2, shared_length_, tail);
    fields.copy_(fields.index_select(1, index));
  }
  if (has_request_) {
    segment_rel_ = segment_rel_.index_select(0, index);
    last_num_segments_ = last_num_segments_.index_select(0, index);
    last_rel_offset_ = last_rel_offset_.index_select(0, index);
  }
  if (prefix_valid_) {
    // Each row's prompt columns follow its row (they were built from its query fields).
    at::Tensor bias = step_bias_.narrow(3, 0, prefix_length_);
    bias.copy_(bias.index_select(0, index));
    at::Tensor blocked = step_blocked_.narrow(3, 0, prefix_length_);
    blocked.copy_(blocked.index_select(0, index));
    prefix_query_ = prefix_query_.index_select(0, index);
  }
}

void KvCache::clear() {
  length_ = 0;
  shared_length_ = 0;
  has_request_ = false;
  prefix_length_ = 0;
  prefix_valid_ = false;
  segment_rel_ = at::Tensor();
  ext_rows_ = at::Tensor();
}

}  // namespace viscpm::cpmbee
