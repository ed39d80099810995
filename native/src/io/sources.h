// The two TensorSource implementations, created by TensorSource::open.
#pragma once

#include <memory>

#include "io/file_reader.h"
#include "io/tensor_source.h"

namespace viscpm::io {

std::unique_ptr<TensorSource> open_torch_zip(std::unique_ptr<FileReader> file, const OpenOptions& options);
std::unique_ptr<TensorSource> open_safetensors(std::unique_ptr<FileReader> file, const OpenOptions& options);

// data.pkl larger than this is not a state dict index (a 10B model's is ~0.4 MB).
constexpr uint64_t kMaxPickleBytes = uint64_t(1) << 30;
// The safetensors reference library refuses headers above 100 MB.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

}  // namespace viscpm::io
