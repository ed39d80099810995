#include "kernels/cpu/small_batch_gemm.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>

#include "kernels/cpu/pooled_blas.h"

#include <atomic>

#include "kernels/cpu/row_stream.h"

namespace viscpm::kernels::cpu {
namespace {

std::atomic<bool> g_enabled{true};
std::atomic<bool> g_avx512_enabled{true};

// Several weight rows at a time pay for 16-bit weights on long rows, where widening them makes
// the one-row loop compute-bound (full-size CPM-Bee, K = 4096 and 10240: bf16 decode step
// 1.86 s -> 1.29 s). fp32 weights and short rows keep one row at a time: no gain measured
// there (mid-size steps vary 35-55 ms between runs on this VM, more than any difference).
constexpr int64_t kInterleaveMinK = 2048;

// The AVX-512 form is for 16-bit weights only: fp32 weights are bound by the memory, and their
// sums keep the summation order the fp32 golden cases were checked with.
#if VISCPM_ROW_STREAM
template <typename W>
void dispatch_rows(int64_t rows, const float* x, const W* w, int64_t K, int64_t N, W* out) {
  row_stream::Form form;
  form.interleave = sizeof(W) == 2 && K >= kInterleaveMinK;
  form.wide = sizeof(W) == 2 && small_batch_avx512_active();
  row_stream::run(rows, x, w, /*scales=*/nullptr, K, N, out, form);
}
#endif

}  // namespace

bool small_batch_kernel_active() {
#if VISCPM_ROW_STREAM
  return g_enabled.load(std::memory_order_relaxed) && row_stream::avx2_supported();
#else
  return false;
#endif
}

void set_small_batch_kernel_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

bool small_batch_avx512_active() {
#if VISCPM_ROW_STREAM
  return small_batch_kernel_active() && g_avx512_enabled.load(std::memory_order_relaxed) &&
         row_stream::avx512_supported();
#else
  return false;
#endif
}

void set_small_batch_avx512_enabled(bool enabled) { g_avx512_enabled.store(enabled, std::memory_order_relaxed); }

at::Tensor small_batch_linear(const at::Tensor& x, const at::Tensor& weight) {
  const int64_t K = weight.size(1), N = weight.size(0);
  const int64_t rows = K == 0 ? 0 : x.numel() / K;
  const auto dtype = weight.scalar_type();
  const bool eligible = small_batch_kernel_active() && x.device().is_cpu() && weight.device().is_cpu() &&
                        rows >= 1 && rows <= kSmallBatchMaxRows && x.scalar_type() == dtype &&
                        weight.is_contiguous() && x.size(-1) == K &&
                        (dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16);
  if (!eligible) return pooled_linear(x, weight);
#if VISCPM_ROW_STREAM
  at::Tensor xf = x.reshape({rows, K}).to(at::kFloat).contiguous();
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = N;
  at::Tensor out = at::empty(out_sizes, x.options());
  const float* xp = xf.const_data_ptr<float>();
  if (dtype == at::kFloat) {
    dispatch_rows(rows, xp, weight.const_data_ptr<float>(), K, N, out.mutable_data_ptr<float>());
  } else if (dtype == at::kHalf) {
    dispatch_rows(rows, xp, weight.const_data_ptr<c10::Half>(), K, N, out.mutable_data_ptr<c10::Half>());
  } else {
    dispatch_rows(rows, xp, weight.const_data_ptr<c10::BFloat16>(), K, N, out.mutable_data_ptr<c10::BFloat16>());
  }
  return out;
#else
  return pooled_linear(x, weight);
#endif
}

}  // namespace viscpm::kernels::cpu
