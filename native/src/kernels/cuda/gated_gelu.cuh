// The epilogues of the two gated feed-forward layers on CUDA (contracts: kernels/ops.h).
#pragma once

#include <ATen/core/Tensor.h>

namespace viscpm::kernels::cuda {

// CPM-Bee (§4.6): both = x·[W0; W1]ᵀ [.., 2F] (rounded) -> gelu(a / d) * (b / d), with the
// reference's roundings after the division, the GELU and the product; one pass instead of
// four LibTorch ops over the [.., 2F] GEMM output.
at::Tensor gated_gelu_epilogue(const at::Tensor& both, double divisor);
// diffusers' GEGLU: halves = x·Wᵀ + b [.., 2F] -> h * gelu(g) (gelu rounded, then the product).
at::Tensor geglu_epilogue(const at::Tensor& halves);

}  // namespace viscpm::kernels::cuda
