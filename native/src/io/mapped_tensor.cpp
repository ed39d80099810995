#include "io/mapped_tensor.h"

#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <cstring>
#include <sstream>

#include "common/error.h"
#include "common/tensor_text.h"

namespace viscpm::io {

namespace {
// Pages of storages this large are handed back to the kernel after a read.
constexpr uint64_t kReleaseThreshold = uint64_t(1) << 20;
// Large contiguous tensors are copied in slices of this size.
constexpr uint64_t kSliceBytes = uint64_t(64) << 20;

int64_t span_elements(const TensorEntry& e) {  // highest element index + 1 (validated)
  int64_t last = e.storage_offset;
  for (size_t d = 0; d < e.shape.size(); ++d) last += (e.shape[d] - 1) * e.strides[d];
  return last + 1;
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
  if (shape.size() > kMaxTensorRank) throw FormatError(what + ": " + std::to_string(shape.size()) + " dimensions");
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

at::Tensor mapped_view(const MappedFile& file, uint64_t storage_offset_bytes, const TensorEntry& e) {
  auto options = at::TensorOptions().dtype(e.dtype);
  if (e.numel() == 0) return at::empty(e.shape, options);
  int64_t span = span_elements(e);
  size_t item = at::elementSize(e.dtype);
  const uint8_t* p = file.data() + storage_offset_bytes;
  // Bytes of a bool storage may be anything in a damaged file: read them as uint8.
  auto raw_options = e.dtype == at::kBool ? options.dtype(at::kByte) : options;
  at::Tensor base;
  if (reinterpret_cast<uintptr_t>(p) % item == 0) {
    base = at::from_blob(const_cast<uint8_t*>(p), {span}, raw_options);
  } else {  // misaligned (never in torch.save files; possible in safetensors)
    base = at::empty({span}, raw_options);
    std::memcpy(base.data_ptr(), p, static_cast<size_t>(span) * item);
  }
  at::Tensor view = base.as_strided(e.shape, e.strides, e.storage_offset);
  return e.dtype == at::kBool ? view.ne(0) : view;
}

namespace {
// Copies the entry into dst (same shape). A large contiguous tensor goes over in slices
// whose file pages are released right after, so the resident set stays near the size of
// the destination instead of growing by the whole mapped tensor.
void copy_entry(const MappedFile& file, uint64_t storage_offset_bytes, const TensorEntry& e, at::Tensor& dst) {
  at::Tensor view = mapped_view(file, storage_offset_bytes, e);
  uint64_t item = at::elementSize(e.dtype);
  uint64_t touched = e.numel() ? static_cast<uint64_t>(span_elements(e)) * item : 0;
  if (touched >= kSliceBytes && e.contiguous() && dst.is_contiguous() && e.dtype != at::kBool) {
    at::Tensor flat_src = view.reshape({-1}), flat_dst = dst.view({-1});
    int64_t step = static_cast<int64_t>(kSliceBytes / item);
    for (int64_t begin = 0; begin < e.numel(); begin += step) {
      int64_t n = std::min(step, e.numel() - begin);
      flat_dst.narrow(0, begin, n).copy_(flat_src.narrow(0, begin, n));
      file.release(storage_offset_bytes + static_cast<uint64_t>(e.storage_offset + begin) * item,
                   static_cast<uint64_t>(n) * item);
    }
    return;
  }
  dst.copy_(view);
  if (touched >= kReleaseThreshold) file.release(storage_offset_bytes, touched);
}
}  // namespace

at::Tensor read_mapped(const MappedFile& file, uint64_t storage_offset_bytes, const TensorEntry& e,
                       std::optional<at::ScalarType> dtype, at::Device device) {
  at::NoGradGuard no_grad;
  at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(dtype.value_or(e.dtype)).device(device));
  copy_entry(file, storage_offset_bytes, e, out);
  return out;
}

void read_mapped_into(const MappedFile& file, uint64_t storage_offset_bytes, const TensorEntry& e,
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
