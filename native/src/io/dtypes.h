// Names of tensor element types in the two checkpoint formats and in the fixtures.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

namespace viscpm::io {

// "FloatStorage" -> kFloat, ... (the torch.<X>Storage classes a torch.save pickle names).
std::optional<at::ScalarType> dtype_from_torch_storage(const std::string& class_name);
std::optional<std::string> torch_storage_name(at::ScalarType dtype);

// "F32" -> kFloat, ... (safetensors header dtype strings).
std::optional<at::ScalarType> dtype_from_safetensors(const std::string& code);
std::optional<std::string> safetensors_name(at::ScalarType dtype);

// Python's spelling without "torch.": "float32", "float16", "bfloat16", "int64", "bool".
std::string python_dtype_name(at::ScalarType dtype);

}  // namespace viscpm::io
