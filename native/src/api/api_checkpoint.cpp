#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <c10/core/ScalarType.h>

#include <cstring>

#include "api/guard.h"
#include "io/tensor_source.h"

struct viscpm_checkpoint {
  std::unique_ptr<viscpm::io::TensorSource> source;
};

namespace {

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "unknown";
  }
}

}  // namespace

using namespace viscpm::api;

extern "C" {

viscpm_status viscpm_checkpoint_open(const char* path, viscpm_checkpoint** out) {
  return guarded([&] {
    if (!path) throw viscpm::InvalidArgument("checkpoint path is null");
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    auto handle = std::make_unique<viscpm_checkpoint>();
    handle->source = viscpm::io::TensorSource::open(path);
    *out = handle.release();
  });
}

void viscpm_checkpoint_free(viscpm_checkpoint* checkpoint) { delete checkpoint; }

const char* viscpm_checkpoint_format(const viscpm_checkpoint* checkpoint) {
  if (!checkpoint) return "";
  return checkpoint->source->format() == viscpm::io::SourceFormat::kTorchZip ? "torch-zip" : "safetensors";
}

int64_t viscpm_checkpoint_count(const viscpm_checkpoint* checkpoint) {
  return checkpoint ? static_cast<int64_t>(checkpoint->source->entries().size()) : 0;
}

static_assert(VISCPM_MAX_DIMS == viscpm::io::kMaxTensorRank, "the C API's tensor info holds every rank the readers accept");

viscpm_status viscpm_checkpoint_info(const viscpm_checkpoint* checkpoint, int64_t index, viscpm_tensor_info* out) {
  return guarded([&] {
    const auto& source = *require(checkpoint, "checkpoint").source;
    if (!out) throw viscpm::InvalidArgument("info pointer is null");
    const auto& entries = source.entries();
    if (index < 0 || index >= static_cast<int64_t>(entries.size()))
      throw viscpm::InvalidArgument("tensor index " + std::to_string(index) + " out of range [0, " +
                                    std::to_string(entries.size()) + ")");
    const auto& e = entries[index];
    std::memset(out, 0, sizeof(*out));
    out->name = e.name.c_str();
    out->dtype = dtype_name(e.dtype);
    out->ndim = static_cast<int32_t>(e.shape.size());
    for (size_t i = 0; i < e.shape.size(); ++i) out->shape[i] = e.shape[i];
    out->nbytes = e.nbytes();
    out->contiguous = e.contiguous() ? 1 : 0;
  });
}

viscpm_status viscpm_checkpoint_read_f32(const viscpm_checkpoint* checkpoint, const char* name, float* dst,
                                         int64_t capacity) {
  return guarded([&] {
    const auto& source = *require(checkpoint, "checkpoint").source;
    if (!name) throw viscpm::InvalidArgument("tensor name is null");
    const auto& entry = source.at(name);
    if (entry.numel() > capacity)
      throw viscpm::InvalidArgument(std::string(name) + " has " + std::to_string(entry.numel()) +
                                    " elements; the buffer holds " + std::to_string(capacity));
    if (!dst && entry.numel() > 0) throw viscpm::InvalidArgument("destination buffer is null");
    auto tensor = source.read(entry, at::kFloat);
    auto target = at::from_blob(dst, tensor.sizes(), at::TensorOptions().dtype(at::kFloat));
    target.copy_(tensor);
  });
}

}  // extern "C"
