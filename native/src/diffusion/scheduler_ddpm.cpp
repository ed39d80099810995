// DDPMScheduler (diffusers v0.15.0), the VisCPM-Paint default (schedulers.md §3).
#include <ATen/ops/exp.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/split.h>
#include <ATen/ops/tensor.h>

#include "kernels/ops.h"
#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>

namespace viscpm::diffusion::detail {
namespace {

class DdpmScheduler final : public Scheduler {
 public:
  explicit DdpmScheduler(const SchedulerConfig& config) {
    auto params = beta_params();
    params.insert(params.end(), {
                                    {"variance_type", "fixed_small"},
                                    {"clip_sample", true},
                                    {"prediction_type", "epsilon"},
                                    {"thresholding", false},
                                    {"dynamic_thresholding_ratio", 0.995},
                                    {"clip_sample_range", 1.0},
                                    {"sample_max_value", 1.0},
                                });
    ResolvedConfig resolved = resolve_config(config, params);
    effective_config_ = std::move(resolved.effective);
    ignored_config_keys_ = std::move(resolved.ignored);
    init_noise_schedule(/*allow_sigmoid=*/true);

    ConfigReader read(effective_config_, class_name());
    variance_type_ = read.choice("variance_type", {"fixed_small", "fixed_small_log", "fixed_large",
                                                   "fixed_large_log", "learned", "learned_range"});
    if (variance_type_ == "fixed_large_log") {
      // v0.15.0 takes the square root of log(beta) < 0 here: every noisy step is NaN.
      throw Unsupported("DDPMScheduler: variance_type fixed_large_log produces NaN samples in diffusers "
                        "v0.15.0 and is not supported");
    }
    clip_sample_ = read.boolean("clip_sample");
    prediction_type_ = read.choice("prediction_type", {"epsilon", "sample", "v_prediction"});
    thresholding_ = read.boolean("thresholding");
    threshold_ratio_ = read.number_in("dynamic_thresholding_ratio", 0.0, 1.0);
    clip_sample_range_ = read.number("clip_sample_range");
    sample_max_value_ = read.number("sample_max_value");
  }

  std::string name() const override { return "ddpm"; }
  std::string class_name() const override { return "DDPMScheduler"; }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    // v0.15.0: [(n-1)k, ..., k, 0] with k = T // n; DDPM takes no steps_offset.
    step_ratio_ = num_train_timesteps_ / n;
    std::vector<int64_t> timesteps(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) timesteps[static_cast<size_t>(i)] = (n - 1 - i) * step_ratio_;
    return at::tensor(timesteps, at::TensorOptions().dtype(at::kLong));
  }

  // The reference's configuration (epsilon, fixed_small, no clipping or thresholding): the
  // guidance combine and the update in one kernel call, the one draw before it.
  std::optional<at::Tensor> fused_guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                                              double timestep, const at::Tensor& sample, NoiseSource& noise) override {
    if (prediction_type_ != "epsilon" || variance_type_ != "fixed_small" || thresholding_ || clip_sample_)
      return std::nullopt;
    if (!sample.defined() || !at::isFloatingType(sample.scalar_type()) || !at::isFloatingType(uncond.scalar_type()) ||
        uncond.device() != sample.device() || cond.device() != sample.device())
      return std::nullopt;  // step() reports these
    check_step_inputs(uncond, sample, false);
    const int64_t t = integer_timestep(timestep);
    const auto [alpha_prod_t, alpha_prod_t_prev, beta_prod_t, beta_prod_t_prev, current_alpha_t, current_beta_t] =
        scalars(t);
    kernels::DdpmStepCoefficients c;
    c.sqrt_beta_prod_t = sqrt32(beta_prod_t);
    c.sqrt_alpha_prod_t = sqrt32(alpha_prod_t);
    c.original_sample_coeff = (sqrt32(alpha_prod_t_prev) * current_beta_t) / beta_prod_t;
    c.current_sample_coeff = sqrt32(current_alpha_t) * beta_prod_t_prev / beta_prod_t;
    at::Tensor z;
    if (t > 0) {  // no draw at the last step
      z = noise.randn(uncond.sizes(), uncond.scalar_type(), uncond.device());
      c.noise_std = sqrt32(std::max(beta_prod_t_prev / beta_prod_t * current_beta_t, 1e-20f));
    }
    return kernels::ddpm_guided_step(uncond, cond, guidance_scale, sample, z, c);
  }

  StepOutput do_step(const at::Tensor& model_output_in, double timestep, const at::Tensor& sample,
                     NoiseSource& noise) override {
    const bool learned = variance_type_ == "learned" || variance_type_ == "learned_range";
    check_step_inputs(model_output_in, sample, learned);
    const int64_t t = integer_timestep(timestep);

    at::Tensor model_output = model_output_in, predicted_variance;
    if (learned && model_output_in.size(1) == 2 * sample.size(1)) {
      auto parts = at::split(model_output_in, sample.size(1), 1);
      model_output = parts[0];
      predicted_variance = parts[1];
    } else if (learned) {
      throw InvalidArgument("DDPMScheduler: variance_type " + variance_type_ +
                            " needs a model output with twice the sample's channels");
    }

    const auto [alpha_prod_t, alpha_prod_t_prev, beta_prod_t, beta_prod_t_prev, current_alpha_t, current_beta_t] =
        scalars(t);

    at::Tensor pred_original_sample;
    if (prediction_type_ == "epsilon") {
      pred_original_sample = (sample - sqrt32(beta_prod_t) * model_output) / sqrt32(alpha_prod_t);
    } else if (prediction_type_ == "sample") {
      pred_original_sample = model_output;
    } else {  // v_prediction
      pred_original_sample = sqrt32(alpha_prod_t) * sample - sqrt32(beta_prod_t) * model_output;
    }
    if (thresholding_) {
      pred_original_sample = threshold_sample(pred_original_sample, threshold_ratio_, sample_max_value_);
    } else if (clip_sample_) {
      pred_original_sample = pred_original_sample.clamp(-clip_sample_range_, clip_sample_range_);
    }

    const float pred_original_sample_coeff = (sqrt32(alpha_prod_t_prev) * current_beta_t) / beta_prod_t;
    const float current_sample_coeff = sqrt32(current_alpha_t) * beta_prod_t_prev / beta_prod_t;
    at::Tensor prev_sample = pred_original_sample_coeff * pred_original_sample + current_sample_coeff * sample;

    if (t > 0) {  // no draw at the last step
      at::Tensor z = noise.randn(model_output.sizes(), model_output.scalar_type(), model_output.device());
      // fixed_small variance: (1 - ᾱ_prev) / (1 - ᾱ_t) * β_t, floored at 1e-20.
      float variance = beta_prod_t_prev / beta_prod_t * current_beta_t;
      variance = std::max(variance, 1e-20f);
      at::Tensor noise_term;
      if (variance_type_ == "fixed_small") {
        noise_term = sqrt32(variance) * z;
      } else if (variance_type_ == "fixed_small_log") {
        noise_term = std::exp(0.5f * std::log(variance)) * z;
      } else if (variance_type_ == "fixed_large") {
        noise_term = sqrt32(current_beta_t) * z;
      } else if (variance_type_ == "learned") {
        noise_term = at::pow(predicted_variance, 0.5) * z;
      } else {  // learned_range: interpolate log variances with the predicted fraction
        at::Tensor frac = (predicted_variance + 1) / 2;
        at::Tensor log_variance = frac * std::log(current_beta_t) + (1 - frac) * std::log(variance);
        noise_term = at::exp(0.5 * log_variance) * z;
      }
      prev_sample = prev_sample + noise_term;
    }
    return {prev_sample, pred_original_sample};
  }

 private:
  // The step's scalars in float32, as the reference's 0-d tensors.
  struct StepScalars {
    float alpha_prod_t, alpha_prod_t_prev, beta_prod_t, beta_prod_t_prev, current_alpha_t, current_beta_t;
  };
  StepScalars scalars(int64_t t) const {
    const int64_t prev_t = t - step_ratio_;
    StepScalars s;
    s.alpha_prod_t = alpha_cumprod(t);
    s.alpha_prod_t_prev = prev_t >= 0 ? alpha_cumprod(prev_t) : 1.0f;
    s.beta_prod_t = 1.0f - s.alpha_prod_t;
    s.beta_prod_t_prev = 1.0f - s.alpha_prod_t_prev;
    s.current_alpha_t = s.alpha_prod_t / s.alpha_prod_t_prev;
    s.current_beta_t = 1.0f - s.current_alpha_t;
    return s;
  }

  std::string variance_type_, prediction_type_;
  bool clip_sample_ = true, thresholding_ = false;
  double threshold_ratio_ = 0.995, clip_sample_range_ = 1.0, sample_max_value_ = 1.0;
  int64_t step_ratio_ = 1;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddpm_scheduler(const SchedulerConfig& config) {
  return std::make_unique<DdpmScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
