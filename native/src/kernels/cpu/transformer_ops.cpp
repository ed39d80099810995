// CPM-Bee and BEiT-3 operations in LibTorch ops, rounding where the reference rounds.
#include "kernels/cpu/cpu_ops.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/softmax.h>

#include <limits>

#include "kernels/cpu/numerics.h"
#include "kernels/cpu/small_batch_gemm.h"

namespace viscpm::kernels::cpu {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const auto dtype = x.scalar_type();
  at::Tensor variance = (is_reduced(dtype) ? x.to(at::kFloat) : x).pow(2).mean(-1, /*keepdim=*/true);
  variance.add_(eps).rsqrt_();
  at::Tensor normalised = is_reduced(dtype) ? at::mul(x, variance).to(dtype) : at::mul(x, variance);
  return normalised.mul_(weight);
}

void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta, double scale) { h.add_(delta).div_(scale); }

at::Tensor gated_gelu(const at::Tensor& x, const at::Tensor& fused_weight, double divisor) {
  const int64_t dim_ff = fused_weight.size(0) / 2;
  at::Tensor both = small_batch_linear(x, fused_weight).div_(divisor);
  at::Tensor gate = gelu_exact(both.narrow(-1, 0, dim_ff));  // a fresh tensor
  return gate.mul_(both.narrow(-1, dim_ff, dim_ff));
}

at::Tensor cpmbee_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                            const CpmBeeMask& mask, double score_divisor) {
  const int64_t batch = q.size(0), heads = q.size(1), len = q.size(2), dim_head = q.size(3);
  // Rounding points of §4.5 steps 3-6: QKᵀ, /sqrt(dh), +bias, mask, softmax, mask again.
  at::Tensor scores = at::matmul(q, keys.transpose(-1, -2)).div_(score_divisor).add_(mask.bias);
  if (mask.blocked.defined()) scores.masked_fill_(mask.blocked, -std::numeric_limits<double>::infinity());
  at::Tensor probs = softmax_last(scores);
  if (mask.has_empty_rows) probs.masked_fill_(mask.blocked, 0.0);
  return at::matmul(probs, values).transpose(1, 2).reshape({batch, len, heads * dim_head});
}

at::Tensor beit3_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  at::Tensor scores = at::bmm(q, k.transpose(1, 2));
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(scores.scalar_type());  // softmax in float32
  return at::bmm(probs, v);
}

}  // namespace viscpm::kernels::cpu
