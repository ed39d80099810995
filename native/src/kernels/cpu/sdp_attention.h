// Scaled dot-product attention as the diffusers 0.15 reference computes it, shared by the
// UNet transformers and the VAE mid-block. The kernel choice is fixed when a model is
// loaded (AttentionSettings), not per call.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/scaled_dot_product_attention.h>

namespace viscpm::diffusion {

enum class AttentionKernel {
  kAuto,       // kFused on CUDA, kReference elsewhere
  kReference,  // baddbmm(q, k^T, alpha=scale) -> softmax -> bmm, as diffusers 0.15 on torch 1.13
  kFused,      // at::scaled_dot_product_attention (flash / memory-efficient kernels; same math,
               // different rounding)
};

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

// q [B*H, N, d], k/v [B*H, M, d] -> [B*H, N, d] in q's dtype.
at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const AttentionMath& math, const AttentionSettings& settings);

// [B, N, H*d] <-> [B*H, N, d] (head h owns channels h*d ... h*d+d-1), diffusers' order.
at::Tensor heads_to_batch(const at::Tensor& x, int64_t heads);
at::Tensor batch_to_heads(const at::Tensor& x, int64_t heads);

}  // namespace viscpm::diffusion
