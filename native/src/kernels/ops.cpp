// The one dispatch point of the kernels: which implementation runs for a device and dtype.
// Only kernels/cpu exists today (LibTorch ops, correct on every device); kernels/cuda
// (VISCPM_CUDA) adds its cases here.
#include "kernels/ops.h"

#include <ATen/ops/linear.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/pooled_blas.h"
#include "kernels/cpu/small_batch_gemm.h"

namespace viscpm::kernels {

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (bias.defined()) return cpu::pooled_linear(x, weight, bias);
  return cpu::small_batch_linear(x, weight);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) { return cpu::rms_norm(x, weight, eps); }

void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta, double scale) {
  cpu::scaled_residual_add_(h, delta, scale);
}

at::Tensor gated_gelu(const at::Tensor& x, const at::Tensor& fused_weight, double divisor) {
  return cpu::gated_gelu(x, fused_weight, divisor);
}

at::Tensor cpmbee_attention_prefill(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                    const CpmBeeMask& mask, double score_divisor) {
  return cpu::cpmbee_attention(q, keys, values, mask, score_divisor);
}

at::Tensor cpmbee_attention_decode(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                   const CpmBeeMask& mask, double score_divisor) {
  return cpu::cpmbee_attention(q, keys, values, mask, score_divisor);
}

at::Tensor beit3_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return cpu::beit3_attention(q, k, v);
}

at::Tensor sdp_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMath& math,
                         const AttentionSettings& settings) {
  return cpu::sdp_attention(q, k, v, math, settings);
}

at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu) {
  return cpu::group_norm(x, groups, weight, bias, eps, silu);
}

at::Tensor geglu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return cpu::geglu(x, weight, bias);
}

at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale) {
  return cpu::classifier_free_guidance(uncond, cond, scale);
}

at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c) {
  return cpu::ddpm_guided_step(uncond, cond, guidance_scale, sample, noise, c);
}

}  // namespace viscpm::kernels
