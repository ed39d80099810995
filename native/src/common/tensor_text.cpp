#include "common/tensor_text.h"

namespace viscpm {

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string shape_string(const at::Tensor& t) {
  return t.defined() ? shape_string(t.sizes()) : std::string("(undefined)");
}

}  // namespace viscpm
