// GroupNorm (+ SiLU) of the UNet and VAE ResNet blocks on CUDA (kernels/ops.h, group_norm):
// one pass for the statistics, one for normalise + affine + SiLU, instead of LibTorch's
// group_norm followed by a separate SiLU over the whole activation.
#pragma once

#include <ATen/core/Tensor.h>

namespace viscpm::kernels::cuda {

// x [B, C, ...] contiguous, weight/bias [C] in x's dtype. fp32 statistics (biased variance,
// as torch); the normalised value is rounded to x's dtype before the SiLU, as the two
// LibTorch ops round.
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu);
bool group_norm_supports(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace viscpm::kernels::cuda
