#include "kernels/cpu/cpu_ops.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/softmax.h>

#include <algorithm>

#include "kernels/cpu/pooled_blas.h"

namespace viscpm::kernels {

AttentionSettings AttentionSettings::resolved_for(const at::Device& device) const {
  AttentionSettings s = *this;
  if (s.kernel == AttentionKernel::kAuto)
    s.kernel = device.is_cuda() ? AttentionKernel::kFused : AttentionKernel::kReference;
  return s;
}

at::Tensor heads_to_batch(const at::Tensor& x, int64_t heads) {
  const int64_t b = x.size(0), n = x.size(1), d = x.size(2) / heads;
  return x.reshape({b, n, heads, d}).permute({0, 2, 1, 3}).reshape({b * heads, n, d});
}

at::Tensor batch_to_heads(const at::Tensor& x, int64_t heads) {
  const int64_t b = x.size(0) / heads, n = x.size(1), d = x.size(2);
  return x.reshape({b, heads, n, d}).permute({0, 2, 1, 3}).reshape({b, n, heads * d});
}

namespace cpu {
namespace {

// One slice of the reference computation (diffusers 0.15 Attention.get_attention_scores /
// AttentionBlock): the scale is applied by baddbmm to the product, not to q beforehand.
at::Tensor reference_slice(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMath& m) {
  const auto dtype = q.scalar_type();
  at::Tensor qq = m.upcast_qk ? q.to(at::kFloat) : q;
  at::Tensor kk = m.upcast_qk ? k.to(at::kFloat) : k;
  at::Tensor scores = at::empty({qq.size(0), qq.size(1), kk.size(1)}, qq.options());
  scores = at::baddbmm(scores, qq, kk.transpose(-1, -2), /*beta=*/0, /*alpha=*/m.scale);
  at::Tensor probs = m.upcast_softmax ? at::softmax(scores.to(at::kFloat), -1) : at::softmax(scores, -1);
  probs = probs.to(dtype);
  return at::bmm(probs, v);
}

}  // namespace

at::Tensor sdp_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const AttentionMath& math, const AttentionSettings& settings) {
  if (settings.kernel == AttentionKernel::kFused) {
    // SDPA works on [batch, heads, N, d]; a leading singleton batch keeps our layout.
    const auto dtype = q.scalar_type();
    const bool upcast = math.upcast_qk && dtype != at::kFloat;
    at::Tensor out = at::scaled_dot_product_attention(
        (upcast ? q.to(at::kFloat) : q).unsqueeze(0), (upcast ? k.to(at::kFloat) : k).unsqueeze(0),
        (upcast ? v.to(at::kFloat) : v).unsqueeze(0), /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/false,
        /*scale=*/math.scale);
    return out.squeeze(0).to(dtype);
  }
  const int64_t batch_heads = q.size(0), n = q.size(1), m = k.size(1);
  const int64_t head_score_bytes = std::max<int64_t>(1, n * m * int64_t{4});
  // One slice's score matrices stay under max_score_bytes, in whole heads (at least one: rows
  // of one query each would take another BLAS code path and other rounding).
  const int64_t heads_per_slice = std::max<int64_t>(1, settings.max_score_bytes / head_score_bytes);
  const int64_t rows_per_slice = n;
  const int64_t flops_per_row = 2 * m * (q.size(2) + v.size(2));
  const bool pooled = blas_work_is_pooled(q) && batch_heads * n * flops_per_row >= (int64_t{4} << 20);
  auto slice = [&](int64_t b0, int64_t b1, int64_t r0, int64_t r1) {
    return reference_slice(q.narrow(0, b0, b1 - b0).narrow(1, r0, r1 - r0), k.narrow(0, b0, b1 - b0),
                           v.narrow(0, b0, b1 - b0), math);
  };
  if (!pooled && heads_per_slice >= batch_heads && rows_per_slice >= n) return reference_slice(q, k, v, math);
  at::Tensor out = at::empty({batch_heads, n, v.size(2)}, q.options());
  auto write = [&](int64_t b0, int64_t b1, int64_t r0, int64_t r1) {
    out.narrow(0, b0, b1 - b0).narrow(1, r0, r1 - r0).copy_(slice(b0, b1, r0, r1));
  };
  if (pooled) {
    // Heads (then query rows, when there are fewer heads than threads) over the pool.
    for_each_row_block(batch_heads, n, flops_per_row, rows_per_slice, true, write);
  } else {
    for (int64_t b0 = 0; b0 < batch_heads; b0 += heads_per_slice)
      for (int64_t r0 = 0; r0 < n; r0 += rows_per_slice)
        write(b0, std::min(batch_heads, b0 + heads_per_slice), r0, std::min(n, r0 + rows_per_slice));
  }
  return out;
}

}  // namespace cpu
}  // namespace viscpm::kernels
