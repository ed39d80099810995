// The LibTorch implementations of kernels/ops.h (see there for the contracts). Every
// device runs them; ops.cpp calls them unless a specialised kernel takes the case.
#pragma once

#include "kernels/ops.h"

namespace viscpm::kernels::cpu {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta, double scale);
at::Tensor gated_gelu(const at::Tensor& x, const at::Tensor& fused_weight, double divisor,
                      const at::Tensor& fused_scales = {});
at::Tensor cpmbee_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                            const CpmBeeMask& mask, double score_divisor);
at::Tensor beit3_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor sdp_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMath& math,
                         const AttentionSettings& settings);
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu);
at::Tensor geglu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);
at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale);
at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c);

}  // namespace viscpm::kernels::cpu
