#include "kernels/cpu/int8_gemm.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/round.h>
#include <ATen/ops/where.h>

#include "common/error.h"
#include "common/tensor_text.h"
#include "kernels/cpu/pooled_blas.h"

#include <atomic>
#include <cstdint>

#include "kernels/cpu/row_stream.h"

namespace viscpm::kernels::cpu {
namespace {

std::atomic<bool> g_streaming_enabled{true};
std::atomic<bool> g_avx512_enabled{true};
// Rows of the weight dequantized at once on the BLAS path: 8 MiB of fp32 per block.
constexpr int64_t kBlockBytes = int64_t{8} << 20;
// Rows of a weight quantized at once (bounds the fp32 temporaries for the 86k-row embedding).
constexpr int64_t kQuantizeRows = 4096;

void check_operands(const at::Tensor& x, const at::Tensor& values, const at::Tensor& scales) {
  if (values.scalar_type() != at::kChar || values.dim() != 2)
    throw InvalidArgument("linear_int8: weight values must be an int8 [N, K] tensor, got " + shape_string(values));
  if (scales.scalar_type() != at::kFloat || scales.dim() != 1 || scales.size(0) != values.size(0))
    throw InvalidArgument("linear_int8: scales must be float32 [" + std::to_string(values.size(0)) + "], got " +
                          shape_string(scales));
  if (x.dim() < 1 || x.size(-1) != values.size(1))
    throw InvalidArgument("linear_int8: input " + shape_string(x) + " does not match weight " + shape_string(values));
  const auto dtype = x.scalar_type();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
    throw InvalidArgument(std::string("linear_int8: input must be float32, float16 or bfloat16, got ") +
                          c10::toString(dtype));
}

// The BLAS path: fp32 product with one block of dequantized rows at a time.
at::Tensor blocked_linear_int8(const at::Tensor& xf, const at::Tensor& values, const at::Tensor& scales) {
  const int64_t rows = xf.size(0), N = values.size(0), K = values.size(1);
  at::Tensor out = at::empty({rows, N}, xf.options());
  const int64_t block = std::max<int64_t>(64, kBlockBytes / (4 * std::max<int64_t>(K, 1)) / 64 * 64);
  for (int64_t n0 = 0; n0 < N; n0 += block) {
    const int64_t nb = std::min(block, N - n0);
    at::Tensor weights = values.narrow(0, n0, nb).to(at::kFloat);  // exact: |q| <= 127
    out.narrow(1, n0, nb).copy_(pooled_linear(xf, weights).mul_(scales.narrow(0, n0, nb)));
  }
  return out;
}

}  // namespace

void set_int8_streaming_kernel_enabled(bool enabled) { g_streaming_enabled.store(enabled); }
void set_int8_avx512_enabled(bool enabled) { g_avx512_enabled.store(enabled); }

bool int8_avx512_active() {
#if VISCPM_ROW_STREAM
  return g_avx512_enabled.load() && row_stream::avx512_supported();
#else
  return false;
#endif
}

void quantize_int8_rows(const at::Tensor& weight, at::Tensor& values_out, at::Tensor& scales_out) {
  if (weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw InvalidArgument("quantize_int8_rows: expected a floating [N, K] weight, got " + shape_string(weight));
  const int64_t N = weight.size(0), K = weight.size(1);
  if (!values_out.defined()) values_out = at::empty({N, K}, weight.options().dtype(at::kChar));
  if (!scales_out.defined()) scales_out = at::empty({N}, weight.options().dtype(at::kFloat));
  for (int64_t r0 = 0; r0 < N; r0 += kQuantizeRows) {
    const int64_t n = std::min(kQuantizeRows, N - r0);
    at::Tensor w = weight.narrow(0, r0, n).to(at::kFloat);
    at::Tensor amax = w.abs().amax({1});
    at::Tensor scale = at::where(amax.gt(0), amax / 127.0, at::ones_like(amax));
    at::Tensor q = at::round(w / scale.unsqueeze(1)).clamp_(-127, 127).to(at::kChar);  // w may be the caller's tensor
    values_out.narrow(0, r0, n).copy_(q);
    scales_out.narrow(0, r0, n).copy_(scale);
  }
}

at::Tensor linear_int8(const at::Tensor& x, const at::Tensor& values, const at::Tensor& scales) {
  check_operands(x, values, scales);
  const int64_t N = values.size(0), K = values.size(1);
  const int64_t rows = K == 0 ? 0 : x.numel() / K;
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = N;
  at::Tensor xf = x.reshape({rows, K}).to(at::kFloat).contiguous();
#if VISCPM_ROW_STREAM
  const bool stream = g_streaming_enabled.load(std::memory_order_relaxed) && row_stream::avx2_supported() &&
                      x.device().is_cpu() && values.device().is_cpu() && rows >= 1 && rows <= row_stream::kMaxRows &&
                      values.is_contiguous() && scales.is_contiguous();
  if (stream) {
    at::Tensor out = at::empty(out_sizes, x.options());
    const float* xp = xf.const_data_ptr<float>();
    const int8_t* qp = values.const_data_ptr<int8_t>();
    const float* sp = scales.const_data_ptr<float>();
    row_stream::Form form;
    form.interleave = true;  // the int8 -> fp32 widening bounds the one-row loop at every K
    form.wide = int8_avx512_active();
    switch (x.scalar_type()) {
      case at::kFloat: row_stream::run(rows, xp, qp, sp, K, N, out.mutable_data_ptr<float>(), form); break;
      case at::kHalf: row_stream::run(rows, xp, qp, sp, K, N, out.mutable_data_ptr<c10::Half>(), form); break;
      default: row_stream::run(rows, xp, qp, sp, K, N, out.mutable_data_ptr<c10::BFloat16>(), form); break;
    }
    return out;
  }
#endif
  return blocked_linear_int8(xf, values, scales).to(x.scalar_type()).view(out_sizes);
}

}  // namespace viscpm::kernels::cpu
