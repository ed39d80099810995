// Weight-only int8: y = (x·Qᵀ) ⊙ s for weights stored as int8 rows Q [N, K] with one fp32
// scale per row (output channel), W ≈ Q·diag(s).
//
// Activations stay in their float dtype; every product accumulates in fp32 and the scale is
// applied to the fp32 sum, so a decode step reads one byte per weight instead of two (bf16)
// or four (fp32) and keeps the float path's rounding of the result. Few rows (decode steps,
// beams) stream the int8 rows through row_stream.h, the kernel small_batch_gemm uses too;
// more rows (prefill) dequantize a block of weight rows at a time into fp32 and run the
// pooled BLAS product on it, so the temporary stays a few MiB whatever the layer size.
#pragma once

#include <ATen/core/Tensor.h>

namespace viscpm::kernels::cpu {

// Per-row symmetric quantization: s[n] = max|W[n, :]| / 127 (1 for an all-zero row),
// Q[n, k] = round(W[n, k] / s[n]) in [-127, 127]; computed in fp32 from any float dtype.
void quantize_int8_rows(const at::Tensor& weight, at::Tensor& values_out, at::Tensor& scales_out);

// x [..., K] (fp32, fp16 or bf16), values int8 [N, K], scales fp32 [N] -> [..., N] in x's dtype.
at::Tensor linear_int8(const at::Tensor& x, const at::Tensor& values, const at::Tensor& scales);

// For benchmarks: whether the AVX2 streaming kernel takes few-row products (else every
// product takes the dequantize-and-BLAS path).
void set_int8_streaming_kernel_enabled(bool enabled);
// Whether the streaming kernel takes its AVX-512 form (on CPUs that have it); switching it
// off runs the AVX2 form there too (tests check both).
bool int8_avx512_active();
void set_int8_avx512_enabled(bool enabled);

}  // namespace viscpm::kernels::cpu
