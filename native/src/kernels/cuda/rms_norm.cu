#include "kernels/cuda/rms_norm.cuh"

#include <ATen/ops/empty_like.h>

#include "kernels/cuda/cuda_common.cuh"

namespace viscpm::kernels::cuda {
namespace {

template <class T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ weight, T* __restrict__ out,
                                int64_t dim, float eps) {
  const T* row = x + blockIdx.x * dim;
  T* out_row = out + blockIdx.x * dim;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = to_float(row[i]);
    sum += v * v;
  }
  const float inv_rms = rsqrtf(block_sum(sum) / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float normalised = round_to<T>(to_float(row[i]) * inv_rms);
    out_row[i] = static_cast<T>(normalised * to_float(weight[i]));
  }
}

template <class T>
__global__ void scaled_residual_kernel(T* __restrict__ h, const T* __restrict__ delta, int64_t n, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float sum = round_to<T>(to_float(h[i]) + to_float(delta[i]));
    h[i] = static_cast<T>(sum / scale);
  }
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x_in, const at::Tensor& weight_in, double eps) {
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  at::Tensor out = at::empty_like(x);
  if (rows == 0) return out;
  const int threads = dim >= 4096 ? 512 : (dim >= 1024 ? 256 : 128);
  dispatch_float_types(x.scalar_type(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    rms_norm_kernel<T><<<static_cast<unsigned>(rows), threads, 0, current_stream()>>>(
        x.data_ptr<T>(), weight.data_ptr<T>(), out.data_ptr<T>(), dim, static_cast<float>(eps));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

void scaled_residual_add_(at::Tensor& h, const at::Tensor& delta_in, double scale) {
  const at::Tensor delta = delta_in.contiguous();
  const int64_t n = h.numel();
  if (n == 0) return;
  dispatch_float_types(h.scalar_type(), "scaled_residual_add_", [&](auto tag) {
    using T = decltype(tag);
    scaled_residual_kernel<T><<<blocks_for(n, 256), 256, 0, current_stream()>>>(
        h.data_ptr<T>(), delta.data_ptr<T>(), n, static_cast<float>(scale));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace viscpm::kernels::cuda
