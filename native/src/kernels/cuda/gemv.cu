#include "kernels/cuda/gemv.cuh"

#include <ATen/ops/empty.h>

#include "kernels/cuda/cuda_common.cuh"

namespace viscpm::kernels::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kUnroll = 4;

template <class T>
struct Vec {
  static constexpr int kCount = 16 / sizeof(T);
  union {
    uint4 raw;
    T v[kCount];
  };
};

// One warp per output feature n (grid-stride over n); lane l reads the 16-byte vectors
// l, l+32, ... of weight row n and of every x row.
template <class T, int kRows>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t n_out, int64_t k) {
  constexpr int kCount = Vec<T>::kCount;
  const int lane = threadIdx.x & 31;
  const int64_t vectors = k / kCount;
  const uint4* x4 = reinterpret_cast<const uint4*>(x);
  for (int64_t n = int64_t{blockIdx.x} * kWarpsPerBlock + (threadIdx.x >> 5); n < n_out;
       n += int64_t{gridDim.x} * kWarpsPerBlock) {
    const uint4* w4 = reinterpret_cast<const uint4*>(w + n * k);
    float sum[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) sum[r] = 0.f;
    int64_t i = lane;
    for (; i + 32 * (kUnroll - 1) < vectors; i += 32 * kUnroll) {
      Vec<T> wv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) wv[u].raw = __ldg(w4 + i + 32 * u);  // all loads in flight first
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          Vec<T> xv;
          xv.raw = __ldg(x4 + r * vectors + i + 32 * u);
#pragma unroll
          for (int e = 0; e < kCount; ++e) sum[r] += to_float(wv[u].v[e]) * to_float(xv.v[e]);
        }
      }
    }
    for (; i < vectors; i += 32) {
      Vec<T> wv;
      wv.raw = __ldg(w4 + i);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        Vec<T> xv;
        xv.raw = __ldg(x4 + r * vectors + i);
#pragma unroll
        for (int e = 0; e < kCount; ++e) sum[r] += to_float(wv.v[e]) * to_float(xv.v[e]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float total = warp_sum(sum[r]);
      if (lane == 0) y[r * n_out + n] = static_cast<T>(total);
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

bool gemv_supports(const at::Tensor& x, const at::Tensor& weight) {
  if (!x.is_cuda() || !weight.is_cuda() || weight.dim() != 2 || x.dim() < 1) return false;
  const auto dtype = x.scalar_type();
  if (dtype != weight.scalar_type() || (dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat))
    return false;
  const int64_t k = weight.size(1);
  if (x.size(-1) != k || k == 0 || (k * x.element_size()) % 16 != 0) return false;
  const int64_t rows = x.numel() / k;
  return rows >= 1 && rows <= kGemvMaxRows && x.is_contiguous() && weight.is_contiguous() &&
         aligned16(x.data_ptr()) && aligned16(weight.data_ptr());
}

at::Tensor gemv(const at::Tensor& x, const at::Tensor& weight) {
  const int64_t k = weight.size(1), n = weight.size(0), rows = x.numel() / k;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = n;
  at::Tensor y = at::empty(shape, x.options());
  if (n == 0) return y;
  const int64_t blocks = std::min<int64_t>((n + kWarpsPerBlock - 1) / kWarpsPerBlock, 65535);
  dispatch_float_types(x.scalar_type(), "gemv", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    const T* wp = weight.data_ptr<T>();
    T* yp = y.data_ptr<T>();
    const auto stream = current_stream();
    const unsigned grid = static_cast<unsigned>(blocks), threads = kWarpsPerBlock * 32;
    switch (rows) {
      case 1: gemv_kernel<T, 1><<<grid, threads, 0, stream>>>(xp, wp, yp, n, k); break;
      case 2: gemv_kernel<T, 2><<<grid, threads, 0, stream>>>(xp, wp, yp, n, k); break;
      case 3: gemv_kernel<T, 3><<<grid, threads, 0, stream>>>(xp, wp, yp, n, k); break;
      default: gemv_kernel<T, 4><<<grid, threads, 0, stream>>>(xp, wp, yp, n, k); break;
    }
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

}  // namespace viscpm::kernels::cuda
