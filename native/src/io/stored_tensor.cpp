#include "io/stored_tensor.h"

#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <ATen/ops/empty.h>

#include <cstring>
#include <sstream>

#include "common/error.h"
#include "common/tensor_text.h"

namespace viscpm::io {

namespace {
// Tensors that need converting go through a staging buffer of at most this size.
constexpr uint64_t kSliceBytes = uint64_t(64) << 20;

// Elements from the view's first (storage_offset) to its last, inclusive (validated:
// strides are non-negative, the view lies inside its storage).
int64_t span_elements(const TensorEntry& e) {
  int64_t span = 1;
  for (size_t d = 0; d < e.shape.size(); ++d) span += (e.shape[d] - 1) * e.strides[d];
  return span;
}
}  // namespace

std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what) {
  if (shape.size() > kMaxTensorRank)
    throw Unsupported(what + " has " + std::to_string(shape.size()) + " dimensions; at most " +
                      std::to_string(kMaxTensorRank) + " are supported");
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw FormatError(what + ": negative dimension in shape " + shape_string(shape));
    auto next = checked_mul(n, d);
    if (!next) throw FormatError(what + ": shape " + shape_string(shape) + " has too many elements");
    n = *next;
  }
  return n;
}

void check_view_in_bounds(const TensorEntry& e, int64_t storage_numel, const std::string& what) {
  if (e.shape.size() != e.strides.size())
    throw FormatError(what + ": shape and strides differ in rank");
  int64_t numel = checked_numel(e.shape, what);
  if (e.storage_offset < 0) throw FormatError(what + ": negative storage offset");
  if (numel == 0) {
    if (e.storage_offset > storage_numel)
      throw FormatError(what + ": storage offset " + std::to_string(e.storage_offset) +
                        " past the storage of " + std::to_string(storage_numel) + " elements");
    return;
  }
  int64_t last = e.storage_offset;
  for (size_t d = 0; d < e.shape.size(); ++d) {
    if (e.strides[d] < 0) throw FormatError(what + ": negative stride");
    auto step = checked_mul(e.shape[d] - 1, e.strides[d]);
    auto next = step ? checked_add(last, *step) : std::nullopt;
    if (!next) throw FormatError(what + ": strides overflow");
    last = *next;
  }
  if (last >= storage_numel)
    throw FormatError(what + ": view (shape " + shape_string(e.shape) + ", stride " + shape_string(e.strides) +
                      ", offset " + std::to_string(e.storage_offset) + ") reaches element " + std::to_string(last) +
                      " of a storage of " + std::to_string(storage_numel) + " elements");
}

namespace {
// A strided (or bool) entry: its span read into a fresh tensor and viewed as the file
// says. Bytes of a bool storage may be anything in a damaged file: read as uint8, then != 0.
at::Tensor read_strided(const FileReader& file, uint64_t storage_offset_bytes, const TensorEntry& e) {
  auto options = at::TensorOptions().dtype(e.dtype == at::kBool ? at::kByte : e.dtype);
  int64_t span = span_elements(e);
  uint64_t item = at::elementSize(e.dtype);
  at::Tensor base = at::empty({span}, options);
  file.read(storage_offset_bytes + static_cast<uint64_t>(e.storage_offset) * item, base.data_ptr(),
            static_cast<uint64_t>(span) * item);
  at::Tensor view = base.as_strided(e.shape, e.strides, 0);
  return e.dtype == at::kBool ? view.ne(0) : view;
}

// Copies the entry into dst (same shape). A contiguous entry goes straight into a
// contiguous CPU destination of its own dtype (one copy, file to tensor); otherwise in
// slices through a staging buffer, so converting a 20 GB checkpoint never holds a second
// copy of a tensor.
void copy_entry(const FileReader& file, uint64_t storage_offset_bytes, const TensorEntry& e, at::Tensor& dst) {
  if (e.numel() == 0) return;
  uint64_t item = at::elementSize(e.dtype);
  uint64_t first = storage_offset_bytes + static_cast<uint64_t>(e.storage_offset) * item;
  if (!e.contiguous() || e.dtype == at::kBool || !dst.is_contiguous()) {
    dst.copy_(read_strided(file, storage_offset_bytes, e));
    return;
  }
  if (dst.device().is_cpu() && dst.scalar_type() == e.dtype) {
    file.read(first, dst.data_ptr(), static_cast<uint64_t>(e.numel()) * item);
    return;
  }
  int64_t step = static_cast<int64_t>(kSliceBytes / item);
  at::Tensor staging = at::empty({std::min(step, e.numel())}, at::TensorOptions().dtype(e.dtype));
  at::Tensor flat_dst = dst.view({-1});
  for (int64_t begin = 0; begin < e.numel(); begin += step) {
    int64_t n = std::min(step, e.numel() - begin);
    file.read(first + static_cast<uint64_t>(begin) * item, staging.data_ptr(), static_cast<uint64_t>(n) * item);
    flat_dst.narrow(0, begin, n).copy_(staging.narrow(0, 0, n));
  }
}
}  // namespace

at::Tensor read_stored(const FileReader& file, uint64_t storage_offset_bytes, const TensorEntry& e,
                       std::optional<at::ScalarType> dtype, at::Device device) {
  at::NoGradGuard no_grad;
  at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(dtype.value_or(e.dtype)).device(device));
  copy_entry(file, storage_offset_bytes, e, out);
  return out;
}

void read_stored_into(const FileReader& file, uint64_t storage_offset_bytes, const TensorEntry& e,
                      at::Tensor& target) {
  if (!target.defined()) throw InvalidArgument("read_into: target tensor is undefined ('" + e.name + "')");
  if (target.sizes() != at::IntArrayRef(e.shape))
    throw FormatError(file.path().string() + ": tensor '" + e.name + "' has shape " + shape_string(e.shape) +
                      ", the destination expects " + shape_string(target.sizes()));
  // In-place copies into parameters: no autograd; inference tensors need InferenceMode.
  std::optional<c10::InferenceMode> inference;
  if (target.is_inference()) inference.emplace();
  at::NoGradGuard no_grad;
  copy_entry(file, storage_offset_bytes, e, target);
}

}  // namespace viscpm::io
