#include "kernels/cpu/small_batch_gemm.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>

#include "kernels/cpu/pooled_blas.h"

#include <atomic>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VISCPM_SMALL_GEMM_X86 1
#define VISCPM_AVX __attribute__((target("avx,avx2,fma,f16c")))
#define VISCPM_AVX512 __attribute__((target("avx,avx2,fma,f16c,avx512f")))
#endif

namespace viscpm::kernels::cpu {
namespace {

std::atomic<bool> g_enabled{true};
std::atomic<bool> g_avx512_enabled{true};

#if VISCPM_SMALL_GEMM_X86
bool cpu_supports_kernel() {
  static const bool ok = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
                         __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return ok;
}

bool cpu_supports_avx512() {
  static const bool ok = cpu_supports_kernel() && __builtin_cpu_supports("avx512f");
  return ok;
}

// 8 weights -> 8 floats (exact widening).
VISCPM_AVX inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
VISCPM_AVX inline __m256 load8(const c10::Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// bf16 is the upper half of an fp32: widening is a 16-bit shift.
VISCPM_AVX inline __m256 load8(const c10::BFloat16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
VISCPM_AVX inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// out[m, n] = Σ_k x[m, k] · w[n, k] for n in [n0, n1); x is fp32 [M, K]. NB weight rows at a
// time, so each load of x feeds NB FMAs (with one row at a time the loop is bound by loads,
// not by the weight stream); every output keeps its own accumulator and summation order.
template <int M, int NB, typename W, typename O>
VISCPM_AVX void rows_kernel(const float* x, const W* w, int64_t K, int64_t N, int64_t n0, int64_t n1, O* out) {
  const int64_t k8 = K - K % 8;
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) {
    __m256 acc[NB][M];
    for (int j = 0; j < NB; ++j)
      for (int m = 0; m < M; ++m) acc[j][m] = _mm256_setzero_ps();
    for (int64_t k = 0; k < k8; k += 8) {
      __m256 wv[NB];
      for (int j = 0; j < NB; ++j) wv[j] = load8(w + (n + j) * K + k);
      for (int m = 0; m < M; ++m) {
        const __m256 xv = _mm256_loadu_ps(x + m * K + k);
        for (int j = 0; j < NB; ++j) acc[j][m] = _mm256_fmadd_ps(wv[j], xv, acc[j][m]);
      }
    }
    for (int j = 0; j < NB; ++j) {
      const W* row = w + (n + j) * K;
      for (int m = 0; m < M; ++m) {
        float s = hsum(acc[j][m]);
        for (int64_t k = k8; k < K; ++k) s += static_cast<float>(row[k]) * x[m * K + k];
        out[m * N + n + j] = static_cast<O>(s);  // one rounding to the output dtype
      }
    }
  }
  if (n < n1) rows_kernel<M, 1, W, O>(x, w, K, N, n, n1, out);
}

// The AVX-512 form, for 16-bit weights only: 16 weights widen per instruction and feed 16-lane
// FMAs, so the widening that bounds the AVX2 loop on long rows costs half as much. fp32
// weights keep the AVX2 form (they are bound by the memory, and their sums keep the summation
// order the fp32 golden cases were checked with).
VISCPM_AVX512 inline __m512 load16(const c10::Half* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
VISCPM_AVX512 inline __m512 load16(const c10::BFloat16* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

template <int M, int NB, typename W, typename O>
VISCPM_AVX512 void rows_kernel_512(const float* x, const W* w, int64_t K, int64_t N, int64_t n0, int64_t n1, O* out) {
  const int64_t k16 = K - K % 16;
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) {
    __m512 acc[NB][M];
    for (int j = 0; j < NB; ++j)
      for (int m = 0; m < M; ++m) acc[j][m] = _mm512_setzero_ps();
    for (int64_t k = 0; k < k16; k += 16) {
      __m512 wv[NB];
      for (int j = 0; j < NB; ++j) wv[j] = load16(w + (n + j) * K + k);
      for (int m = 0; m < M; ++m) {
        const __m512 xv = _mm512_loadu_ps(x + m * K + k);
        for (int j = 0; j < NB; ++j) acc[j][m] = _mm512_fmadd_ps(wv[j], xv, acc[j][m]);
      }
    }
    for (int j = 0; j < NB; ++j) {
      const W* row = w + (n + j) * K;
      for (int m = 0; m < M; ++m) {
        float s = _mm512_reduce_add_ps(acc[j][m]);
        for (int64_t k = k16; k < K; ++k) s += static_cast<float>(row[k]) * x[m * K + k];
        out[m * N + n + j] = static_cast<O>(s);  // one rounding to the output dtype
      }
    }
  }
  if (n < n1) rows_kernel_512<M, 1, W, O>(x, w, K, N, n, n1, out);
}

// Several weight rows at a time pay for 16-bit weights on long rows, where widening them makes
// the one-row loop compute-bound (full-size CPM-Bee, K = 4096 and 10240: bf16 decode step
// 1.86 s -> 1.29 s). fp32 weights and short rows keep one row at a time: no gain measured
// there (mid-size steps vary 35-55 ms between runs on this VM, more than any difference).
constexpr int64_t kInterleaveMinK = 2048;

template <typename W>
void dispatch_rows(int64_t rows, const float* x, const W* w, int64_t K, int64_t N, W* out) {
  // Chunks of ~256 KiB of weights per task.
  const int64_t grain = std::max<int64_t>(16, (256 * 1024) / std::max<int64_t>(1, K * static_cast<int64_t>(sizeof(W))));
  const bool interleave = sizeof(W) == 2 && K >= kInterleaveMinK;
  const bool wide = sizeof(W) == 2 && small_batch_avx512_active();
  at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
    switch (rows) {
#define VISCPM_ROWS(R)                                                                                 \
  case R:                                                                                              \
    if constexpr (sizeof(W) == 2) {                                                                    \
      if (wide) return rows_kernel_512<R, (R <= 2 ? 4 : R <= 4 ? 2 : 1), W, W>(x, w, K, N, n0, n1, out); \
    }                                                                                                  \
    return interleave ? rows_kernel<R, (R <= 2 ? 4 : R <= 4 ? 2 : 1), W, W>(x, w, K, N, n0, n1, out)   \
                      : rows_kernel<R, 1, W, W>(x, w, K, N, n0, n1, out);
      VISCPM_ROWS(1) VISCPM_ROWS(2) VISCPM_ROWS(3) VISCPM_ROWS(4)
      VISCPM_ROWS(5) VISCPM_ROWS(6) VISCPM_ROWS(7) VISCPM_ROWS(8)
#undef VISCPM_ROWS
    }
  });
}
#endif

}  // namespace

bool small_batch_kernel_active() {
#if VISCPM_SMALL_GEMM_X86
  return g_enabled.load(std::memory_order_relaxed) && cpu_supports_kernel();
#else
  return false;
#endif
}

void set_small_batch_kernel_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

bool small_batch_avx512_active() {
#if VISCPM_SMALL_GEMM_X86
  return small_batch_kernel_active() && g_avx512_enabled.load(std::memory_order_relaxed) && cpu_supports_avx512();
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
#if VISCPM_SMALL_GEMM_X86
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
