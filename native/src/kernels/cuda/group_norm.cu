#include "kernels/cuda/group_norm.cuh"

#include <ATen/ops/empty_like.h>

#include "kernels/cuda/cuda_common.cuh"

namespace viscpm::kernels::cuda {
namespace {

constexpr int kThreads = 1024;

// One block per (batch, group): the group's channels are one contiguous range of
// channels_per_group · spatial values.
template <class T, bool kSilu>
__global__ void __launch_bounds__(kThreads)
    group_norm_kernel(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
                      T* __restrict__ out, int64_t channels_per_group, int64_t spatial, int64_t groups, float eps) {
  const int64_t group = blockIdx.x % groups;
  const int64_t count = channels_per_group * spatial, base = int64_t{blockIdx.x} * count;
  const T* in = x + base;
  // Two-pass statistics in fp32 (the data, at most a few hundred KB, stays in L2).
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) sum += to_float(in[i]);
  const float mean = block_sum(sum) / static_cast<float>(count);
  float squares = 0.f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const float d = to_float(in[i]) - mean;
    squares += d * d;
  }
  const float rstd = rsqrtf(block_sum(squares) / static_cast<float>(count) + eps);
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const int64_t channel = group * channels_per_group + i / spatial;
    const float scale = rstd * to_float(weight[channel]);
    float y = round_to<T>((to_float(in[i]) - mean) * scale + to_float(bias[channel]));
    if (kSilu) y = y / (1.f + __expf(-y));
    out[base + i] = static_cast<T>(y);
  }
}

}  // namespace

bool group_norm_supports(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias) {
  return x.is_cuda() && x.dim() >= 3 && x.is_contiguous() && groups > 0 && x.size(1) % groups == 0 &&
         weight.defined() && bias.defined() && weight.scalar_type() == x.scalar_type() &&
         bias.scalar_type() == x.scalar_type() && weight.numel() == x.size(1) && bias.numel() == x.size(1);
}

at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight_in, const at::Tensor& bias_in,
                      double eps, bool silu) {
  const at::Tensor weight = weight_in.contiguous(), bias = bias_in.contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t batch = x.size(0), channels = x.size(1), spatial = x.numel() / std::max<int64_t>(1, batch * channels);
  if (x.numel() == 0) return out;
  const unsigned blocks = static_cast<unsigned>(batch * groups);
  dispatch_float_types(x.scalar_type(), "group_norm", [&](auto tag) {
    using T = decltype(tag);
    if (silu)
      group_norm_kernel<T, true><<<blocks, kThreads, 0, current_stream()>>>(
          x.data_ptr<T>(), weight.data_ptr<T>(), bias.data_ptr<T>(), out.data_ptr<T>(), channels / groups, spatial,
          groups, static_cast<float>(eps));
    else
      group_norm_kernel<T, false><<<blocks, kThreads, 0, current_stream()>>>(
          x.data_ptr<T>(), weight.data_ptr<T>(), bias.data_ptr<T>(), out.data_ptr<T>(), channels / groups, spatial,
          groups, static_cast<float>(eps));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace viscpm::kernels::cuda
