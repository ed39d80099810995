// y = x·Wᵀ for 1-4 rows on CUDA (decode steps, beams): a weight-streaming GEMV. Batch-1
// decoding reads every weight once per token, so the step time is the weight bytes over
// the memory bandwidth; cuBLAS's small-M GEMMs leave part of it unused. Each warp streams
// whole weight rows with 16-byte loads, fp32 accumulation, one rounding of the result.
#pragma once

#include <ATen/core/Tensor.h>

namespace viscpm::kernels::cuda {

constexpr int64_t kGemvMaxRows = 4;

// Whether x [..., K] and weight [N, K] qualify: rows <= kGemvMaxRows, same float dtype,
// contiguous, K a multiple of 16 bytes and 16-byte aligned data.
bool gemv_supports(const at::Tensor& x, const at::Tensor& weight);
// x [..., K], weight [N, K] -> [..., N] in x's dtype.
at::Tensor gemv(const at::Tensor& x, const at::Tensor& weight);

}  // namespace viscpm::kernels::cuda
