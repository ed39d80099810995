// CPM-Bee and BEiT-3 operations in LibTorch ops, rounding where the reference rounds.
#include "kernels/cpu/cpu_ops.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/softmax.h>

#include <limits>

#include "kernels/cpu/int8_gemm.h"
#include "kernels/cpu/numerics.h"
#include "kernels/cpu/pooled_blas.h"
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

at::Tensor gated_gelu(const at::Tensor& x, const at::Tensor& fused_weight, double divisor,
                      const at::Tensor& fused_scales) {
  const int64_t dim_ff = fused_weight.size(0) / 2;
  at::Tensor both = (fused_scales.defined() ? linear_int8(x, fused_weight, fused_scales)
                                            : small_batch_linear(x, fused_weight))
                        .div_(divisor);
  at::Tensor gate = gelu_exact(both.narrow(-1, 0, dim_ff));  // a fresh tensor
  return gate.mul_(both.narrow(-1, dim_ff, dim_ff));
}

namespace {

// The rows [r0, r1) of batch entry b of a tensor broadcast over [B, ., L, .] (dims 0 and 2).
at::Tensor rows_of(const at::Tensor& t, int64_t b, int64_t r0, int64_t r1) {
  at::Tensor x = t.size(0) == 1 ? t : t.narrow(0, b, 1);
  return t.size(2) == 1 ? x : x.narrow(2, r0, r1 - r0);
}

at::Tensor cpmbee_attention_rows(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                 const at::Tensor& bias, const at::Tensor& blocked, bool has_empty_rows,
                                 double score_divisor) {
  const int64_t batch = q.size(0), heads = q.size(1), len = q.size(2), dim_head = q.size(3);
  // Rounding points of §4.5 steps 3-6: QKᵀ, /sqrt(dh), +bias, mask, softmax, mask again.
  at::Tensor scores = at::matmul(q, keys.transpose(-1, -2)).div_(score_divisor).add_(bias);
  if (blocked.defined()) scores.masked_fill_(blocked, -std::numeric_limits<double>::infinity());
  at::Tensor probs = softmax_last(scores);
  if (has_empty_rows) probs.masked_fill_(blocked, 0.0);
  return at::matmul(probs, values).transpose(1, 2).reshape({batch, len, heads * dim_head});
}

}  // namespace

at::Tensor cpmbee_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                            const CpmBeeMask& mask, double score_divisor) {
  const int64_t batch = q.size(0), heads = q.size(1), len = q.size(2), dim_head = q.size(3), total = keys.size(2);
  const int64_t flops_per_row = 4 * heads * total * dim_head;
  const bool pooled = blas_work_is_pooled(q) && batch * len * flops_per_row >= (int64_t{4} << 20) &&
                      mask.bias.dim() == 4 && (!mask.blocked.defined() || mask.blocked.dim() == 4);
  if (!pooled)
    return cpmbee_attention_rows(q, keys, values, mask.bias, mask.blocked, mask.has_empty_rows, score_divisor);
  // Query rows in blocks over the pool (each row's softmax is its own; same values).
  at::Tensor out = at::empty({batch, len, heads * dim_head}, q.options());
  for_each_row_block(batch, len, flops_per_row, len, true, [&](int64_t b0, int64_t, int64_t r0, int64_t r1) {
    at::Tensor blocked = mask.blocked.defined() ? rows_of(mask.blocked, b0, r0, r1) : at::Tensor();
    out.narrow(0, b0, 1).narrow(1, r0, r1 - r0).copy_(cpmbee_attention_rows(
        q.narrow(0, b0, 1).narrow(2, r0, r1 - r0), keys.narrow(0, b0, 1), values.narrow(0, b0, 1),
        rows_of(mask.bias, b0, r0, r1), blocked, mask.has_empty_rows, score_divisor));
  });
  return out;
}

at::Tensor beit3_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  auto rows = [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    at::Tensor scores = at::bmm(q, k.transpose(1, 2));
    at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(scores.scalar_type());  // softmax in float32
    return at::bmm(probs, v);
  };
  const int64_t batch_heads = q.size(0), n = q.size(1), m = k.size(1);
  const int64_t flops_per_row = 2 * m * (q.size(2) + v.size(2));
  if (!blas_work_is_pooled(q) || batch_heads * n * flops_per_row < (int64_t{4} << 20)) return rows(q, k, v);
  at::Tensor out = at::empty({batch_heads, n, v.size(2)}, q.options());
  for_each_row_block(batch_heads, n, flops_per_row, n, true, [&](int64_t b0, int64_t b1, int64_t r0, int64_t r1) {
    out.narrow(0, b0, b1 - b0).narrow(1, r0, r1 - r0).copy_(
        rows(q.narrow(0, b0, b1 - b0).narrow(1, r0, r1 - r0), k.narrow(0, b0, b1 - b0), v.narrow(0, b0, b1 - b0)));
  });
  return out;
}

}  // namespace viscpm::kernels::cpu
