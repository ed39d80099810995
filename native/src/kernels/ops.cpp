// The one dispatch point of the kernels: which implementation runs for a device and dtype.
// kernels/cpu (LibTorch ops, correct on every device) unless a specialised kernel takes
// the case: kernels/cuda for CUDA tensors when the library is built with VISCPM_CUDA.
#include "kernels/ops.h"

#include <ATen/ops/linear.h>
#include <ATen/ops/scaled_dot_product_attention.h>

#include <atomic>
#include <limits>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/cpu/pooled_blas.h"
#include "kernels/cpu/small_batch_gemm.h"

#ifdef VISCPM_WITH_CUDA_KERNELS
#include "kernels/cuda/decode_attention.cuh"
#include "kernels/cuda/gated_gelu.cuh"
#include "kernels/cuda/gemv.cuh"
#include "kernels/cuda/group_norm.cuh"
#include "kernels/cuda/guidance.cuh"
#include "kernels/cuda/rms_norm.cuh"
#endif

namespace viscpm::kernels {

bool cuda_kernels_built() {
#ifdef VISCPM_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

namespace {
std::atomic<bool> g_cuda_kernels_enabled{true};
bool use_cuda(const at::Tensor& t) {
  return cuda_kernels_built() && t.is_cuda() && g_cuda_kernels_enabled.load(std::memory_order_relaxed);
}
}  // namespace

void set_cuda_kernels_enabled(bool enabled) { g_cuda_kernels_enabled.store(enabled); }

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (!bias.defined() && use_cuda(x) && cuda::gemv_supports(x, weight)) return cuda::gemv(x, weight);
#endif
  if (bias.defined()) return cpu::pooled_linear(x, weight, bias);
  return cpu::small_batch_linear(x, weight);
}

void quantize_int8_rows(const at::Tensor& weight, at::Tensor& values_out, at::Tensor& scales_out) {
  cpu::quantize_int8_rows(weight, values_out, scales_out);
}

at::Tensor linear_int8(const at::Tensor& x, const at::Tensor& values, const at::Tensor& scales) {
  // CUDA tensors take the dequantize-block path with LibTorch's GEMM (no int8 kernel yet).
  return cpu::linear_int8(x, values, scales);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(x) && weight.scalar_type() == x.scalar_type()) return cuda::rms_norm(x, weight, eps);
#endif
  return cpu::rms_norm(x, weight, eps);
}

void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta, double scale) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(h) && h.is_contiguous() && delta.scalar_type() == h.scalar_type() && delta.sizes() == h.sizes())
    return cuda::scaled_residual_add_(h, delta, scale);
#endif
  cpu::scaled_residual_add_(h, delta, scale);
}

at::Tensor gated_gelu(const at::Tensor& x, const at::Tensor& fused_weight, double divisor,
                      const at::Tensor& fused_scales) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(x))
    return cuda::gated_gelu_epilogue(kernels::linear_maybe_int8(x, fused_weight, fused_scales), divisor);
#endif
  return cpu::gated_gelu(x, fused_weight, divisor, fused_scales);
}

at::Tensor cpmbee_attention_prefill(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                    const CpmBeeMask& mask, double score_divisor) {
  // On CUDA: LibTorch's fused attention (memory-efficient kernel) with the position bias
  // and the mask as one additive mask. Rows with no visible key stay on the reference
  // path (the fused kernels return NaN there, the contract says zeros).
  if (use_cuda(q) && !mask.has_empty_rows && mask.bias.defined()) {
    at::Tensor additive = mask.bias.to(q.scalar_type());
    if (mask.blocked.defined())
      additive = additive.masked_fill(mask.blocked, -std::numeric_limits<double>::infinity());
    const int64_t batch = q.size(0), heads = q.size(1), len = q.size(2), dim_head = q.size(3);
    at::Tensor out = at::scaled_dot_product_attention(q, keys, values, additive.expand({batch, heads, len, keys.size(2)}),
                                                      0.0, false, 1.0 / score_divisor);
    return out.transpose(1, 2).reshape({batch, len, heads * dim_head});
  }
  return cpu::cpmbee_attention(q, keys, values, mask, score_divisor);
}

at::Tensor cpmbee_attention_decode(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                   const CpmBeeMask& mask, double score_divisor) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(q) && mask.bias.defined() && cuda::cpmbee_decode_attention_supports(q, keys, values))
    return cuda::cpmbee_decode_attention(q, keys, values, mask.bias, mask.blocked, score_divisor);
#endif
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
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(x) && cuda::group_norm_supports(x, groups, weight, bias))
    return cuda::group_norm(x, groups, weight, bias, eps, silu);
#endif
  return cpu::group_norm(x, groups, weight, bias, eps, silu);
}

at::Tensor geglu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(x)) return cuda::geglu_epilogue(at::linear(x, weight, bias));
#endif
  return cpu::geglu(x, weight, bias);
}

at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(uncond) && cuda::guidance_supports({&uncond, &cond}))
    return cuda::classifier_free_guidance(uncond, cond, scale);
#endif
  return cpu::classifier_free_guidance(uncond, cond, scale);
}

at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c) {
#ifdef VISCPM_WITH_CUDA_KERNELS
  if (use_cuda(sample) && cuda::guidance_supports({&sample, &uncond, &cond, &noise}))
    return cuda::ddpm_guided_step(uncond, cond, guidance_scale, sample, noise, c);
#endif
  return cpu::ddpm_guided_step(uncond, cond, guidance_scale, sample, noise, c);
}

}  // namespace viscpm::kernels
