// Shared device helpers of kernels/cuda: dtype dispatch, loads/stores through float,
// rounding to the storage dtype, warp and block reductions. Included by .cu files only.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace viscpm::kernels::cuda {

// Calls body(scalar_t{}) for float, half and bfloat16 tensors (a generic lambda takes the
// storage type as decltype of its argument).
template <class Body>
void dispatch_float_types(c10::ScalarType dtype, const char* what, Body&& body) {
  switch (dtype) {
    case c10::ScalarType::Float: body(float{}); break;
    case c10::ScalarType::Half: body(c10::Half{}); break;
    case c10::ScalarType::BFloat16: body(c10::BFloat16{}); break;
    default: throw std::invalid_argument(std::string(what) + ": unsupported dtype " + c10::toString(dtype));
  }
}

template <class T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}
// The value as the storage dtype would hold it: one rounding, as a LibTorch op's result.
template <class T>
__device__ __forceinline__ float round_to(float v) {
  return static_cast<float>(static_cast<T>(v));
}

// Exact (erf) GELU in fp32, as at::gelu(approximate="none").
__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial[] may still be read from a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.f;
  return warp_sum(v);
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 32 ? blocks : 65535 * 32);
}

}  // namespace viscpm::kernels::cuda
