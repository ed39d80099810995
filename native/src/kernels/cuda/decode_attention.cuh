// CPM-Bee single-token attention over the key/value cache on CUDA (kernels/ops.h,
// cpmbee_attention_decode): split-K ("flash-decoding"). The keys of each (row, head) are
// cut into chunks, one block per chunk computes q·kᵀ / d + bias with the mask applied and
// an online softmax over its chunk; a second kernel merges the chunks. Scores, softmax and
// the value sum stay in fp32 (the reference rounds scores and probabilities to the model
// dtype in between: the kernel tests bound the difference by that rounding's own error).
#pragma once

#include <ATen/core/Tensor.h>

namespace viscpm::kernels::cuda {

// q [B, H, 1, dh], keys/values [B, H, T, dh] (last dims contiguous, any other strides: the
// cache's views), bias [B|1, H|1, 1, T] in q's dtype, blocked [B|1, 1, 1, T] bool or
// undefined. A query whose keys are all blocked gets zeros. Returns [B, 1, H·dh].
// dh <= 256.
at::Tensor cpmbee_decode_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                   const at::Tensor& bias, const at::Tensor& blocked, double score_divisor);
bool cpmbee_decode_attention_supports(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values);

}  // namespace viscpm::kernels::cuda
