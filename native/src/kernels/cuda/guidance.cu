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

// guided = cfg(uncond, cond); with kStep the DDPM update of `sample` by it (noise optional).
template <class T, bool kStep>
__global__ void guidance_kernel(const T* __restrict__ uncond, const T* __restrict__ cond,
                                const T* __restrict__ sample, const T* __restrict__ noise, T* __restrict__ out,
                                int64_t n, float scale, DdpmStepCoefficients c) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float guided = guided_value<T>(to_float(uncond[i]), to_float(cond[i]), scale);
    if (!kStep) {
      out[i] = static_cast<T>(guided);
      continue;
    }
    const float s = to_float(sample[i]);
    const float residual = round_to<T>(__fsub_rn(s, round_to<T>(__fmul_rn(c.sqrt_beta_prod_t, guided))));
    const float original = round_to<T>(__fdiv_rn(residual, c.sqrt_alpha_prod_t));
    float prev = round_to<T>(__fadd_rn(round_to<T>(__fmul_rn(c.original_sample_coeff, original)),
                                       round_to<T>(__fmul_rn(c.current_sample_coeff, s))));
    if (noise != nullptr) prev = __fadd_rn(prev, round_to<T>(__fmul_rn(c.noise_std, to_float(noise[i]))));
    out[i] = static_cast<T>(prev);
  }
}

// One launch over contiguous copies of the inputs; the output takes `like`'s shape.
template <bool kStep>
at::Tensor launch(const at::Tensor& uncond_in, const at::Tensor& cond_in, double scale, const at::Tensor& sample_in,
                  const at::Tensor& noise_in, const DdpmStepCoefficients& c, const at::Tensor& like, const char* what) {
  const at::Tensor uncond = uncond_in.contiguous(), cond = cond_in.contiguous();
  const at::Tensor sample = sample_in.defined() ? sample_in.contiguous() : at::Tensor();
  const at::Tensor noise = noise_in.defined() ? noise_in.contiguous() : at::Tensor();
  at::Tensor out = at::empty(like.sizes(), like.options());
  const int64_t n = out.numel();
  if (n == 0) return out;
  dispatch_float_types(like.scalar_type(), what, [&](auto tag) {
    using T = decltype(tag);
    guidance_kernel<T, kStep><<<blocks_for(n, 256), 256, 0, current_stream()>>>(
        uncond.data_ptr<T>(), cond.data_ptr<T>(), sample.defined() ? sample.data_ptr<T>() : nullptr,
        noise.defined() ? noise.data_ptr<T>() : nullptr, out.data_ptr<T>(), n, static_cast<float>(scale), c);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
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

at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale) {
  return launch<false>(uncond, cond, scale, {}, {}, {}, uncond, "classifier_free_guidance");
}

at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c) {
  return launch<true>(uncond, cond, guidance_scale, sample, noise, c, sample, "ddpm_guided_step");
}

}  // namespace viscpm::kernels::cuda
