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

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VISCPM_INT8_X86 1
#define VISCPM_AVX2 __attribute__((target("avx,avx2,fma")))
#define VISCPM_AVX512 __attribute__((target("avx,avx2,fma,avx512f")))
#endif

namespace viscpm::kernels::cpu {
namespace {

std::atomic<bool> g_streaming_enabled{true};
std::atomic<bool> g_avx512_enabled{true};
constexpr int64_t kStreamingMaxRows = 8;
// Rows of the weight dequantized at once on the BLAS path: 8 MiB of fp32 per block.
constexpr int64_t kBlockBytes = int64_t{8} << 20;
// Rows of a weight quantized at once (bounds the fp32 temporaries for the 86k-row embedding).
constexpr int64_t kQuantizeRows = 4096;

#if VISCPM_INT8_X86
bool cpu_supports_kernel() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

bool cpu_supports_avx512() {
  static const bool ok = cpu_supports_kernel() && __builtin_cpu_supports("avx512f");
  return ok;
}

VISCPM_AVX2 inline __m256 widen8(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)); }
VISCPM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// out[m, n] = s[n] · Σ_k x[m, k] · q[n, k] for n in [n0, n1); x fp32 [M, K]. NB weight rows at
// a time so that each load of x feeds NB·2 FMAs; every output has its own accumulator.
template <int M, int NB, typename O>
VISCPM_AVX2 void int8_rows(const float* x, const int8_t* q, const float* s, int64_t K, int64_t N, int64_t n0,
                           int64_t n1, O* out) {
  const int64_t k16 = K - K % 16;
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) {
    __m256 acc[NB][M];
    for (int j = 0; j < NB; ++j)
      for (int m = 0; m < M; ++m) acc[j][m] = _mm256_setzero_ps();
    for (int64_t k = 0; k < k16; k += 16) {
      __m256 lo[NB], hi[NB];
      for (int j = 0; j < NB; ++j) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + (n + j) * K + k));
        lo[j] = widen8(b);
        hi[j] = widen8(_mm_srli_si128(b, 8));
      }
      for (int m = 0; m < M; ++m) {
        const __m256 x0 = _mm256_loadu_ps(x + m * K + k), x1 = _mm256_loadu_ps(x + m * K + k + 8);
        for (int j = 0; j < NB; ++j) acc[j][m] = _mm256_fmadd_ps(hi[j], x1, _mm256_fmadd_ps(lo[j], x0, acc[j][m]));
      }
    }
    for (int j = 0; j < NB; ++j) {
      const int8_t* row = q + (n + j) * K;
      for (int m = 0; m < M; ++m) {
        float sum = hsum(acc[j][m]);
        for (int64_t k = k16; k < K; ++k) sum += static_cast<float>(row[k]) * x[m * K + k];
        out[m * N + n + j] = static_cast<O>(sum * s[n + j]);  // one rounding to the output dtype
      }
    }
  }
  if (n < n1) int8_rows<M, 1, O>(x, q, s, K, N, n, n1, out);
}

// The AVX-512 twin: 16 weights widen in one step (one conversion instead of two plus a
// shift), so the 3-row beam step, which is bound by the widening on AVX2, does half the work.
template <int M, int NB, typename O>
VISCPM_AVX512 void int8_rows_512(const float* x, const int8_t* q, const float* s, int64_t K, int64_t N, int64_t n0,
                                 int64_t n1, O* out) {
  const int64_t k16 = K - K % 16;
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) {
    __m512 acc[NB][M];
    for (int j = 0; j < NB; ++j)
      for (int m = 0; m < M; ++m) acc[j][m] = _mm512_setzero_ps();
    for (int64_t k = 0; k < k16; k += 16) {
      __m512 w[NB];
      for (int j = 0; j < NB; ++j)
        w[j] = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + (n + j) * K + k))));
      for (int m = 0; m < M; ++m) {
        const __m512 xv = _mm512_loadu_ps(x + m * K + k);
        for (int j = 0; j < NB; ++j) acc[j][m] = _mm512_fmadd_ps(w[j], xv, acc[j][m]);
      }
    }
    for (int j = 0; j < NB; ++j) {
      const int8_t* row = q + (n + j) * K;
      for (int m = 0; m < M; ++m) {
        float sum = _mm512_reduce_add_ps(acc[j][m]);
        for (int64_t k = k16; k < K; ++k) sum += static_cast<float>(row[k]) * x[m * K + k];
        out[m * N + n + j] = static_cast<O>(sum * s[n + j]);
      }
    }
  }
  if (n < n1) int8_rows_512<M, 1, O>(x, q, s, K, N, n, n1, out);
}

template <typename O>
void stream_rows(int64_t rows, const float* x, const int8_t* q, const float* s, int64_t K, int64_t N, O* out) {
  // ~256 KiB of weights per task.
  const int64_t grain = std::max<int64_t>(16, (256 * 1024) / std::max<int64_t>(1, K));
  const bool wide = g_avx512_enabled.load(std::memory_order_relaxed) && cpu_supports_avx512();
  at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
    switch (rows) {
#define VISCPM_ROWS(R)                                                                                \
  case R:                                                                                             \
    return wide ? int8_rows_512<R, (R == 1 ? 4 : R <= 4 ? 2 : 1), O>(x, q, s, K, N, n0, n1, out)      \
                : int8_rows<R, (R == 1 ? 4 : R <= 4 ? 2 : 1), O>(x, q, s, K, N, n0, n1, out);
      VISCPM_ROWS(1) VISCPM_ROWS(2) VISCPM_ROWS(3) VISCPM_ROWS(4)
      VISCPM_ROWS(5) VISCPM_ROWS(6) VISCPM_ROWS(7) VISCPM_ROWS(8)
#undef VISCPM_ROWS
    }
  });
}
#endif

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
#if VISCPM_INT8_X86
  return g_avx512_enabled.load() && cpu_supports_avx512();
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
#if VISCPM_INT8_X86
  const bool stream = g_streaming_enabled.load(std::memory_order_relaxed) && cpu_supports_kernel() &&
                      x.device().is_cpu() && values.device().is_cpu() && rows >= 1 && rows <= kStreamingMaxRows &&
                      values.is_contiguous() && scales.is_contiguous();
  if (stream) {
    at::Tensor out = at::empty(out_sizes, x.options());
    const float* xp = xf.const_data_ptr<float>();
    const int8_t* qp = values.const_data_ptr<int8_t>();
    const float* sp = scales.const_data_ptr<float>();
    switch (x.scalar_type()) {
      case at::kFloat: stream_rows(rows, xp, qp, sp, K, N, out.mutable_data_ptr<float>()); break;
      case at::kHalf: stream_rows(rows, xp, qp, sp, K, N, out.mutable_data_ptr<c10::Half>()); break;
      default: stream_rows(rows, xp, qp, sp, K, N, out.mutable_data_ptr<c10::BFloat16>()); break;
    }
    return out;
  }
#endif
  return blocked_linear_int8(xf, values, scales).to(x.scalar_type()).view(out_sizes);
}

}  // namespace viscpm::kernels::cpu
