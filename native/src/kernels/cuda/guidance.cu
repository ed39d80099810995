#include "kernels/cuda/guidance.cuh"

#include <ATen/ops/empty.h>

#include "kernels/cuda/cuda_common.cuh"

namespace viscpm::kernels::cuda {
namespace {

template <class T>
__device__ __forceinline__ float guided_value(float u, float c, float scale) {
  const float difference = round_to<T>(__fsub_rn(c, u));
  return round_to<T>(__fadd_rn(u, round_to<T>(__fmul_rn(scale, difference))));
}

template <class T>
__global__ void guidance_kernel(const T* __restrict__ uncond, const T* __restrict__ cond, T* __restrict__ out,
                                int64_t n, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = static_cast<T>(guided_value<T>(to_float(uncond[i]), to_float(cond[i]), scale));
}

template <class T>
__global__ void ddpm_kernel(const T* __restrict__ uncond, const T* __restrict__ cond, const T* __restrict__ sample,
                            const T* __restrict__ noise, T* __restrict__ out, int64_t n, float scale,
                            DdpmStepCoefficients c) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float guided = guided_value<T>(to_float(uncond[i]), to_float(cond[i]), scale);
    const float s = to_float(sample[i]);
    const float residual = round_to<T>(__fsub_rn(s, round_to<T>(__fmul_rn(c.sqrt_beta_prod_t, guided))));
    const float original = round_to<T>(__fdiv_rn(residual, c.sqrt_alpha_prod_t));
    float prev = round_to<T>(__fadd_rn(round_to<T>(__fmul_rn(c.original_sample_coeff, original)),
                                       round_to<T>(__fmul_rn(c.current_sample_coeff, s))));
    if (noise != nullptr) prev = __fadd_rn(prev, round_to<T>(__fmul_rn(c.noise_std, to_float(noise[i]))));
    out[i] = static_cast<T>(prev);
  }
}

}  // namespace

bool guidance_supports(std::initializer_list<const at::Tensor*> tensors) {
  const at::Tensor* first = *tensors.begin();
  for (const at::Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!t->is_cuda() || t->scalar_type() != first->scalar_type() || t->numel() != first->numel() ||
        t->device() != first->device())
      return false;
  }
  const auto dtype = first->scalar_type();
  return dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16;
}

at::Tensor classifier_free_guidance(const at::Tensor& uncond_in, const at::Tensor& cond_in, double scale) {
  const at::Tensor uncond = uncond_in.contiguous(), cond = cond_in.contiguous();
  at::Tensor out = at::empty(uncond.sizes(), uncond.options());
  const int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_float_types(uncond.scalar_type(), "classifier_free_guidance", [&](auto tag) {
    using T = decltype(tag);
    guidance_kernel<T><<<blocks_for(n, 256), 256, 0, current_stream()>>>(
        uncond.data_ptr<T>(), cond.data_ptr<T>(), out.data_ptr<T>(), n, static_cast<float>(scale));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor ddpm_guided_step(const at::Tensor& uncond_in, const at::Tensor& cond_in, double guidance_scale,
                            const at::Tensor& sample_in, const at::Tensor& noise_in, const DdpmStepCoefficients& c) {
  const at::Tensor uncond = uncond_in.contiguous(), cond = cond_in.contiguous(), sample = sample_in.contiguous();
  const at::Tensor noise = noise_in.defined() ? noise_in.contiguous() : at::Tensor();
  at::Tensor out = at::empty(sample.sizes(), sample.options());
  const int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_float_types(sample.scalar_type(), "ddpm_guided_step", [&](auto tag) {
    using T = decltype(tag);
    ddpm_kernel<T><<<blocks_for(n, 256), 256, 0, current_stream()>>>(
        uncond.data_ptr<T>(), cond.data_ptr<T>(), sample.data_ptr<T>(),
        noise.defined() ? noise.data_ptr<T>() : nullptr, out.data_ptr<T>(), n, static_cast<float>(guidance_scale), c);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace viscpm::kernels::cuda
