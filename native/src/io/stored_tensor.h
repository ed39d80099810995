// Shared by both readers: overflow-checked shape arithmetic, and tensors read from the file
// (one tensor at a time, straight into the destination when it has the stored layout,
// otherwise through a bounded staging buffer, converted on the way).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/file_reader.h"
#include "io/tensor_source.h"

namespace viscpm::io {

// a*b / a+b for non-negative int64, nullopt on overflow.
std::optional<int64_t> checked_mul(int64_t a, int64_t b);
std::optional<int64_t> checked_add(int64_t a, int64_t b);

// Product of `shape` (FormatError naming `what` when a dimension is negative, the rank
// is absurd or the product overflows).
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what);

// Checks that every element of the view (shape, strides, offset) lies inside a storage of
// `storage_numel` elements; FormatError naming `what` otherwise.
void check_view_in_bounds(const TensorEntry& entry, int64_t storage_numel, const std::string& what);


// `storage_offset_bytes`: where the entry's storage starts in the file (already
// bounds-checked against the file). read_stored(): a fresh contiguous tensor in `dtype`
// on `device`. read_stored_into(): copied into target (same shape, any dtype/device).
at::Tensor read_stored(const FileReader& file, uint64_t storage_offset_bytes, const TensorEntry& entry,
                       std::optional<at::ScalarType> dtype, at::Device device);
void read_stored_into(const FileReader& file, uint64_t storage_offset_bytes, const TensorEntry& entry,
                      at::Tensor& target);

}  // namespace viscpm::io
