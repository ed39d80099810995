// y = x·Wᵀ for a handful of rows (decode steps: one row per beam) on the CPU.
//
// BLAS sgemm is tuned for large products; with 1-8 rows the product is a weight-streaming
// GEMV and the generic kernels reach a fraction of the memory bandwidth (on the AVX-only
// development machine OpenBLAS sgemm with 3 rows runs at ~1 GFLOP/s, 6x slower than
// streaming the weights). This kernel streams each weight row once, accumulates in fp32
// (fp32, fp16 and bf16 weights; cpmbee.md §2: fp32 accumulation, one rounding of the
// result) and splits output features across the intra-op threads. It needs AVX2+FMA+F16C at
// run time; everything else (other devices; more rows; non-contiguous weights; older CPUs)
// goes to pooled_linear (at::linear's arithmetic). bf16 joined when the full-size decode
// step measured 6 s through oneDNN's GEMM against a ~19 GB weight stream.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/linear.h>

namespace viscpm::kernels::cpu {

constexpr int64_t kSmallBatchMaxRows = 8;

// x [..., K] (same dtype as weight), weight [N, K] -> [..., N] in x's dtype.
at::Tensor small_batch_linear(const at::Tensor& x, const at::Tensor& weight);

// Whether the kernel runs for eligible inputs (CPU supports it and it is enabled).
bool small_batch_kernel_active();
// For benchmarks: switch the kernel off to measure the plain at::linear path.
void set_small_batch_kernel_enabled(bool enabled);
// Whether 16-bit weights take the kernel's AVX-512 form (CPUs with AVX-512F); switched off,
// they take the AVX2 form there too (tests check both).
bool small_batch_avx512_active();
void set_small_batch_avx512_enabled(bool enabled);

}  // namespace viscpm::kernels::cpu
