// The weight-streaming core of the few-row products (decode steps, beams), shared by
// small_batch_gemm (float weights) and int8_gemm (int8 rows with a scale each):
//
//   out[m, n] = (scale[n]) · Σ_k x[m, k] · w[n, k]   for m < rows <= 8, n < N; x is fp32 [rows, K]
//
// Each weight row is read once; NB rows at a time so that each load of x feeds NB FMAs; every
// output keeps its own fp32 accumulator and summation order and is rounded once to O. The
// AVX2 form widens 8 weights per step; the AVX-512 form 16, which halves the widening work
// where it bounds the loop (16-bit and int8 weights on long rows). x86-64 with GCC/Clang only
// (VISCPM_ROW_STREAM is 1 there); included by the two kernels' .cpp files, nothing else.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#define VISCPM_ROW_STREAM 1
#define VISCPM_ROW_STREAM_AVX2 __attribute__((target("avx,avx2,fma,f16c")))
#define VISCPM_ROW_STREAM_AVX512 __attribute__((target("avx,avx2,fma,f16c,avx512f")))

namespace viscpm::kernels::cpu::row_stream {

constexpr int64_t kMaxRows = 8;

inline bool avx2_supported() {
  static const bool ok = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
                         __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return ok;
}

inline bool avx512_supported() {
  static const bool ok = avx2_supported() && __builtin_cpu_supports("avx512f");
  return ok;
}

// 8 weights -> 8 floats (exact widening).
VISCPM_ROW_STREAM_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
VISCPM_ROW_STREAM_AVX2 inline __m256 load8(const c10::Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// bf16 is the upper half of an fp32: widening is a 16-bit shift.
VISCPM_ROW_STREAM_AVX2 inline __m256 load8(const c10::BFloat16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
VISCPM_ROW_STREAM_AVX2 inline __m256 load8(const int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// 16 weights -> 16 floats.
VISCPM_ROW_STREAM_AVX512 inline __m512 load16(const c10::Half* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
VISCPM_ROW_STREAM_AVX512 inline __m512 load16(const c10::BFloat16* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
VISCPM_ROW_STREAM_AVX512 inline __m512 load16(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

VISCPM_ROW_STREAM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
VISCPM_ROW_STREAM_AVX512 inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// The tail of a row after the vector loop, then the one rounding (with the row's scale).
template <typename W, typename O>
inline void finish(float sum, const W* row, const float* x, int64_t k0, int64_t K, const float* scales, int64_t n,
                   O* out) {
  for (int64_t k = k0; k < K; ++k) sum += static_cast<float>(row[k]) * x[k];
  *out = static_cast<O>(scales ? sum * scales[n] : sum);
}

template <int M, int NB, typename W, typename O>
VISCPM_ROW_STREAM_AVX2 void rows_avx2(const float* x, const W* w, const float* scales, int64_t K, int64_t N,
                                      int64_t n0, int64_t n1, O* out) {
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
    for (int j = 0; j < NB; ++j)
      for (int m = 0; m < M; ++m)
        finish(hsum(acc[j][m]), w + (n + j) * K, x + m * K, k8, K, scales, n + j, out + m * N + n + j);
  }
  if (n < n1) rows_avx2<M, 1, W, O>(x, w, scales, K, N, n, n1, out);
}

template <int M, int NB, typename W, typename O>
VISCPM_ROW_STREAM_AVX512 void rows_avx512(const float* x, const W* w, const float* scales, int64_t K, int64_t N,
                                          int64_t n0, int64_t n1, O* out) {
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
    for (int j = 0; j < NB; ++j)
      for (int m = 0; m < M; ++m)
        finish(hsum(acc[j][m]), w + (n + j) * K, x + m * K, k16, K, scales, n + j, out + m * N + n + j);
  }
  if (n < n1) rows_avx512<M, 1, W, O>(x, w, scales, K, N, n, n1, out);
}

// How a product runs: `wide` takes the AVX-512 form (never for fp32 weights: see
// small_batch_gemm.cpp); `interleave` streams several weight rows at a time in the AVX2 form.
struct Form {
  bool wide = false;
  bool interleave = false;
};

// Splits the N weight rows over the intra-op pool, ~256 KiB of weights per task.
// `scales` is nullptr for float weights.
template <typename W, typename O>
void run(int64_t rows, const float* x, const W* w, const float* scales, int64_t K, int64_t N, O* out, Form form) {
  const int64_t grain = std::max<int64_t>(16, (256 * 1024) / std::max<int64_t>(1, K * static_cast<int64_t>(sizeof(W))));
  at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
    switch (rows) {
#define VISCPM_ROWS(R)                                                                                          \
  case R:                                                                                                       \
    if constexpr (sizeof(W) < 4) {                                                                              \
      if (form.wide) return rows_avx512<R, (R <= 2 ? 4 : R <= 4 ? 2 : 1), W, O>(x, w, scales, K, N, n0, n1, out); \
    }                                                                                                           \
    return form.interleave ? rows_avx2<R, (R <= 2 ? 4 : R <= 4 ? 2 : 1), W, O>(x, w, scales, K, N, n0, n1, out)  \
                           : rows_avx2<R, 1, W, O>(x, w, scales, K, N, n0, n1, out);
      VISCPM_ROWS(1) VISCPM_ROWS(2) VISCPM_ROWS(3) VISCPM_ROWS(4)
      VISCPM_ROWS(5) VISCPM_ROWS(6) VISCPM_ROWS(7) VISCPM_ROWS(8)
#undef VISCPM_ROWS
    }
  });
}

}  // namespace viscpm::kernels::cpu::row_stream

#endif
