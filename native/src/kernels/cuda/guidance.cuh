// Classifier-free guidance, alone and fused with the DDPM update, on CUDA (kernels/ops.h):
// the reference's chain of element-wise ops (four for the guidance, up to eight for the
// step) in one pass, each intermediate rounded to the tensors' dtype as the op would be,
// with no fused multiply-add contraction, so fp32 results equal the LibTorch sequence's.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/ops.h"

namespace viscpm::kernels::cuda {

at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale);
at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c);
// Same dtype, device, number of elements for every defined input.
bool guidance_supports(std::initializer_list<const at::Tensor*> tensors);

}  // namespace viscpm::kernels::cuda
