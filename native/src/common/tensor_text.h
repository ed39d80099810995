// Shapes as text for error messages ("[2, 3, 64]"; "(undefined)" for an undefined tensor).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace viscpm {

std::string shape_string(at::IntArrayRef shape);
std::string shape_string(const at::Tensor& t);

}  // namespace viscpm
