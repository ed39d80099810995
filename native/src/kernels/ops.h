// kernels: the hot operations of every model, as free functions over tensors. Models call
// these and never the LibTorch ops behind them, so a faster implementation (kernels/cuda,
// a fused CPU kernel) replaces one here without touching model code. ops.cpp is the one
// place that picks an implementation (by device and dtype); kernels/cpu holds the LibTorch
// implementations, which keep the reference's rounding points in every dtype and are also
// the fallback on any device without a specialised kernel.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace viscpm::kernels {

// ---- implementation choice --------------------------------------------------------------

// Whether this library holds the kernels of kernels/cuda (built with VISCPM_CUDA).
bool cuda_kernels_built();
// CUDA tensors take the kernels of kernels/cuda when built and enabled (the default);
// disabled, they take the LibTorch implementations of kernels/cpu (benchmarks compare the
// two, the kernel tests use them as the reference). Process-wide; set before a model runs.
void set_cuda_kernels_enabled(bool enabled);

// ---- dense ------------------------------------------------------------------------------

// y = x·Wᵀ (+ b), x [..., K] in W's dtype, W [N, K] -> [..., N]. Without a bias, few rows
// (decode steps) take a weight-streaming kernel on the CPU; fp32 accumulation, one rounding
// of the result. With a bias: LibTorch's fused addmm, as the reference.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// ---- int8 weights -----------------------------------------------------------------------

// Weight-only int8 per output channel: W [N, K] ≈ values · diag(scales), values int8 in
// [-127, 127], scales float32 [N] = max|W[n, :]| / 127 (1 for an all-zero row), computed in
// fp32 from any float dtype. Undefined outputs are allocated; defined ones (a model's
// parameters, any device) are written in place.
void quantize_int8_rows(const at::Tensor& weight, at::Tensor& values_out, at::Tensor& scales_out);
// y = (x·valuesᵀ) ⊙ scales: x [..., K] fp32/fp16/bf16 -> [..., N] in x's dtype; fp32
// accumulation, the scale applied to the fp32 sum, one rounding of the result.
at::Tensor linear_int8(const at::Tensor& x, const at::Tensor& values, const at::Tensor& scales);
// linear_int8 when `scales` is defined, else linear (the one switch model code needs).
inline at::Tensor linear_maybe_int8(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scales) {
  return scales.defined() ? kernels::linear_int8(x, weight, scales) : kernels::linear(x, weight);
}

// ---- CPM-Bee ----------------------------------------------------------------------------

// RMSNorm (cpmbee.md §4.2): statistics in fp32, the normalised value rounded to x's dtype,
// then times the weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// h = (h + delta) / scale in place, each step rounded (the post-scaled residual, §4.7).
void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta, double scale);
// Gated GELU feed-forward input (§4.6): [a | b] = x·Wᵀ / divisor with W = [W0; W1] fused
// [2F, K]; returns gelu(a) * b (GELU in fp32, exact erf form). With fused_scales [2F]
// defined, fused_weight holds int8 rows (linear_int8).
at::Tensor gated_gelu(const at::Tensor& x, const at::Tensor& fused_weight, double divisor,
                      const at::Tensor& fused_scales = {});

// Attention with CPM-Bee's position bias and mask (§4.5): softmax(q·kᵀ / divisor + bias,
// masked) · v. q [B, H, L, dh], keys/values [B, H, T, dh], bias [B, H, L, T] (or
// broadcastable), blocked [B, 1, L, T] bool (undefined: nothing blocked); rows with every
// key blocked give zeros when has_empty_rows. Returns [B, L, H·dh]. Softmax in fp32 for
// fp16/bf16. prefill: L tokens at once; decode: L = 1, the per-token path.
struct CpmBeeMask {
  at::Tensor bias;
  at::Tensor blocked;
  bool has_empty_rows = false;
};
at::Tensor cpmbee_attention_prefill(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                    const CpmBeeMask& mask, double score_divisor);
at::Tensor cpmbee_attention_decode(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                   const CpmBeeMask& mask, double score_divisor);

// ---- BEiT-3 -----------------------------------------------------------------------------

// softmax(q·kᵀ)·v with q already scaled; q/k/v [B·H, N, d] -> [B·H, N, d]; softmax in fp32.
at::Tensor beit3_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// ---- diffusion (UNet, VAE, schedulers) --------------------------------------------------

enum class AttentionKernel {
  kAuto,       // kFused on CUDA, kReference elsewhere
  kReference,  // baddbmm(q, k^T, alpha=scale) -> softmax -> bmm, as diffusers 0.15 on torch 1.13
  kFused,      // at::scaled_dot_product_attention (flash / memory-efficient kernels; same math,
               // different rounding)
};

// The kernel choice is fixed when a model is loaded, not per call.
struct AttentionSettings {
  AttentionKernel kernel = AttentionKernel::kAuto;
  // kReference materialises [heads, N, M] score matrices; batches of heads are processed
  // in slices so that one slice's scores stay under this many bytes (results unchanged).
  int64_t max_score_bytes = int64_t{256} << 20;
  AttentionSettings resolved_for(const at::Device& device) const;  // kAuto -> concrete kernel
};

struct AttentionMath {
  double scale = 1.0;
  bool upcast_qk = false;       // UNet upcast_attention: q, k in fp32 before the product
  bool upcast_softmax = false;  // VAE: softmax always in fp32, probabilities cast back
};

// Scaled dot-product attention of the UNet transformers and the VAE mid-block:
// q [B·H, N, d], k/v [B·H, M, d] -> [B·H, N, d] in q's dtype.
at::Tensor sdp_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMath& math,
                         const AttentionSettings& settings);
// [B, N, H·d] <-> [B·H, N, d] (head h owns channels h·d ... h·d+d-1), diffusers' order.
at::Tensor heads_to_batch(const at::Tensor& x, int64_t heads);
at::Tensor batch_to_heads(const at::Tensor& x, int64_t heads);

// GroupNorm over [B, C, ...] with affine weight/bias [C]; with `silu`, SiLU of the result
// (the norm -> SiLU pairs of the ResNet blocks and the UNet's output).
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu);
// GEGLU (diffusers): [h | g] = x·Wᵀ + b, returns h * gelu(g).
at::Tensor geglu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Classifier-free guidance: uncond + scale · (cond - uncond).
at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale);

// One DDPM step (epsilon prediction, fixed_small variance, no clipping) fused with the
// guidance combine: guided = cfg(uncond, cond, scale); x0 = (sample - √β̄ₜ·guided) / √ᾱₜ;
// prev = c_x0·x0 + c_x·sample (+ σ·noise when noise is defined). Scalars are float32, as
// the reference's 0-d tensors.
struct DdpmStepCoefficients {
  float sqrt_beta_prod_t = 0, sqrt_alpha_prod_t = 1;
  float original_sample_coeff = 0, current_sample_coeff = 0;
  float noise_std = 0;
};
at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c);

}  // namespace viscpm::kernels
