// DDIMScheduler (diffusers v0.15.0, schedulers.md §4). Deterministic for eta = 0 (default).
#include <ATen/ops/tensor.h>

#include "diffusion/scheduler_internal.h"

#include "common/error.h"

namespace viscpm::diffusion::detail {
namespace {

class DdimScheduler final : public Scheduler {
 public:
  explicit DdimScheduler(const SchedulerConfig& config) {
    auto params = beta_params();
    params.insert(params.end(), {
                                    {"clip_sample", true},
                                    {"set_alpha_to_one", true},
                                    {"steps_offset", 0},
                                    {"prediction_type", "epsilon"},
                                    {"thresholding", false},
                                    {"dynamic_thresholding_ratio", 0.995},
                                    {"clip_sample_range", 1.0},
                                    {"sample_max_value", 1.0},
                                });
    ResolvedConfig resolved = resolve_config(config, params);
    effective_config_ = std::move(resolved.effective);
    ignored_config_keys_ = std::move(resolved.ignored);
    init_noise_schedule(/*allow_sigmoid=*/false);

    ConfigReader read(effective_config_, class_name());
    clip_sample_ = read.boolean("clip_sample");
    // The "previous" ᾱ of the last step: 1, or ᾱ_0 as in the SD config.
    final_alpha_cumprod_ = read.boolean("set_alpha_to_one") ? 1.0f : alpha_cumprod(0);
    steps_offset_ = read.integer("steps_offset", 0, num_train_timesteps_ - 1);
    prediction_type_ = read.choice("prediction_type", {"epsilon", "sample", "v_prediction"});
    thresholding_ = read.boolean("thresholding");
    threshold_ratio_ = read.number_in("dynamic_thresholding_ratio", 0.0, 1.0);
    clip_sample_range_ = read.number("clip_sample_range");
    sample_max_value_ = read.number("sample_max_value");
  }

  std::string name() const override { return "ddim"; }
  std::string class_name() const override { return "DDIMScheduler"; }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    step_ratio_ = num_train_timesteps_ / n;
    std::vector<int64_t> timesteps(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) timesteps[static_cast<size_t>(i)] = (n - 1 - i) * step_ratio_ + steps_offset_;
    if (timesteps.front() >= num_train_timesteps_) {
      throw InvalidArgument("DDIMScheduler: steps_offset " + std::to_string(steps_offset_) + " with " +
                            std::to_string(n) + " steps puts the first timestep past num_train_timesteps");
    }
    return at::tensor(timesteps, at::TensorOptions().dtype(at::kLong));
  }

  StepOutput do_step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                     NoiseSource& noise) override {
    check_step_inputs(model_output, sample, false);
    const int64_t t = integer_timestep(timestep);
    const int64_t prev_t = t - step_ratio_;
    const float alpha_prod_t = alpha_cumprod(t);
    const float alpha_prod_t_prev = prev_t >= 0 ? alpha_cumprod(prev_t) : final_alpha_cumprod_;
    const float beta_prod_t = 1.0f - alpha_prod_t;

    at::Tensor pred_original_sample, pred_epsilon;
    if (prediction_type_ == "epsilon") {
      pred_original_sample = (sample - sqrt32(beta_prod_t) * model_output) / sqrt32(alpha_prod_t);
      pred_epsilon = model_output;
    } else if (prediction_type_ == "sample") {
      pred_original_sample = model_output;
      pred_epsilon = (sample - sqrt32(alpha_prod_t) * pred_original_sample) / sqrt32(beta_prod_t);
    } else {  // v_prediction
      pred_original_sample = sqrt32(alpha_prod_t) * sample - sqrt32(beta_prod_t) * model_output;
      pred_epsilon = sqrt32(alpha_prod_t) * model_output + sqrt32(beta_prod_t) * sample;
    }
    if (thresholding_) {
      pred_original_sample = threshold_sample(pred_original_sample, threshold_ratio_, sample_max_value_);
    } else if (clip_sample_) {
      pred_original_sample = pred_original_sample.clamp(-clip_sample_range_, clip_sample_range_);
    }

    const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
    const float variance = (beta_prod_t_prev / beta_prod_t) * (1.0f - alpha_prod_t / alpha_prod_t_prev);
    const float eta = static_cast<float>(step_options_.eta);
    const float std_dev_t = eta * sqrt32(variance);
    if (step_options_.use_clipped_model_output) {
      pred_epsilon = (sample - sqrt32(alpha_prod_t) * pred_original_sample) / sqrt32(beta_prod_t);
    }
    at::Tensor direction = sqrt32(1.0f - alpha_prod_t_prev - std_dev_t * std_dev_t) * pred_epsilon;
    at::Tensor prev_sample = sqrt32(alpha_prod_t_prev) * pred_original_sample + direction;
    if (step_options_.eta > 0) {
      at::Tensor z = noise.randn(model_output.sizes(), model_output.scalar_type(), model_output.device());
      prev_sample = prev_sample + std_dev_t * z;
    }
    return {prev_sample, pred_original_sample};
  }

 private:
  std::string prediction_type_;
  bool clip_sample_ = true, thresholding_ = false;
  float final_alpha_cumprod_ = 1.0f;
  int64_t steps_offset_ = 0, step_ratio_ = 1;
  double threshold_ratio_ = 0.995, clip_sample_range_ = 1.0, sample_max_value_ = 1.0;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim_scheduler(const SchedulerConfig& config) {
  return std::make_unique<DdimScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
