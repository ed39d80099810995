// CPM-Bee's RMSNorm and post-scaled residual on CUDA (contracts: kernels/ops.h).
#pragma once

#include <ATen/core/Tensor.h>

namespace viscpm::kernels::cuda {

// One block per row: fp32 statistics, the normalised value rounded to x's dtype, times
// the weight (rounded once more), as kernels/cpu/transformer_ops.cpp.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// h = round(round(h + delta) / scale), in place: two LibTorch ops in one pass.
void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta, double scale);

}  // namespace viscpm::kernels::cuda
