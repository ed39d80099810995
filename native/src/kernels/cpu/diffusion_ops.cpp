// UNet / VAE / scheduler operations in LibTorch ops (diffusers 0.15 on torch 1.13 order).
#include "kernels/cpu/cpu_ops.h"

#include <ATen/ops/gelu.h>
#include <ATen/ops/group_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/silu.h>

#include "kernels/cpu/pooled_blas.h"

namespace viscpm::kernels::cpu {

at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, bool silu) {
  at::Tensor y = at::group_norm(x, groups, weight, bias, eps);
  return silu ? at::silu(y) : y;
}

at::Tensor geglu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  auto halves = pooled_linear(x, weight, bias).chunk(2, -1);
  return halves[0] * at::gelu(halves[1]);
}

at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double scale) {
  return uncond + scale * (cond - uncond);
}

at::Tensor ddpm_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                            const at::Tensor& sample, const at::Tensor& noise, const DdpmStepCoefficients& c) {
  const at::Tensor guided = classifier_free_guidance(uncond, cond, guidance_scale);
  const at::Tensor original = (sample - c.sqrt_beta_prod_t * guided) / c.sqrt_alpha_prod_t;
  at::Tensor prev = c.original_sample_coeff * original + c.current_sample_coeff * sample;
  if (noise.defined()) prev = prev + c.noise_std * noise;
  return prev;
}

}  // namespace viscpm::kernels::cpu
