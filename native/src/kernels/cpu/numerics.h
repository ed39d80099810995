// Dtype-aware element-wise helpers that keep the reference's rounding points
// (cpmbee.md §2): in fp16/bf16 every op rounds its result once to the parameter dtype;
// softmax, GELU and the RMSNorm statistics are evaluated in fp32 and rounded afterwards.
// In fp32 they reduce to the plain ops.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/softmax.h>

namespace viscpm::kernels::cpu {

inline bool is_reduced(at::ScalarType dtype) { return dtype == at::kHalf || dtype == at::kBFloat16; }

// softmax over the last dim, computed in fp32, result in x's dtype.
inline at::Tensor softmax_last(const at::Tensor& x) {
  if (!is_reduced(x.scalar_type())) return at::softmax(x, -1);
  return at::softmax(x, -1, at::kFloat).to(x.scalar_type());
}

// exact (erf) GELU computed in fp32, result in x's dtype.
inline at::Tensor gelu_exact(const at::Tensor& x) {
  if (!is_reduced(x.scalar_type())) return at::gelu(x);
  return at::gelu(x.to(at::kFloat)).to(x.scalar_type());
}


}  // namespace viscpm::kernels::cpu
