// EulerAncestralDiscreteScheduler (diffusers v0.15.0, schedulers.md §7): Euler's sigmas,
// timesteps and input scaling; each step goes down to sigma_down and adds fresh noise of
// std sigma_up (one draw per step, the last one included).
#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>

namespace viscpm::diffusion::detail {
namespace {

class EulerAncestralScheduler final : public Scheduler {
 public:
  explicit EulerAncestralScheduler(const SchedulerConfig& config) {
    auto params = beta_params();
    params.push_back({"prediction_type", "epsilon"});
    ResolvedConfig resolved = resolve_config(config, params);
    effective_config_ = std::move(resolved.effective);
    ignored_config_keys_ = std::move(resolved.ignored);
    init_noise_schedule(/*allow_sigmoid=*/false);

    ConfigReader read(effective_config_, class_name());
    const std::string prediction = read.choice("prediction_type", {"epsilon", "v_prediction", "sample"});
    if (prediction == "sample") {
      throw Unsupported("EulerAncestralDiscreteScheduler: prediction_type 'sample' is not implemented "
                        "(nor in diffusers v0.15.0)");
    }
    v_prediction_ = prediction == "v_prediction";
    train_sigmas_ = training_sigmas(alphas_cumprod_values_);
    init_noise_sigma_ = *std::max_element(train_sigmas_.begin(), train_sigmas_.end());
  }

  std::string name() const override { return "euler_ancestral"; }
  std::string class_name() const override { return "EulerAncestralDiscreteScheduler"; }
  double init_noise_sigma() const override { return init_noise_sigma_; }

  std::optional<at::Tensor> sigmas() const override {
    if (sigmas_.empty()) return std::nullopt;
    return at::tensor(sigmas_, at::TensorOptions().dtype(at::kFloat));
  }

  at::Tensor scale_model_input(const at::Tensor& sample, double timestep) const override {
    timesteps();  // throws before set_timesteps
    const float sigma = sigmas_[static_cast<size_t>(index_of(timestep))];
    return sample / sqrt32(sigma * sigma + 1.0f);
  }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    EulerSchedule schedule = euler_schedule(train_sigmas_, n, "linear", /*use_karras_sigmas=*/false);
    sigmas_ = std::move(schedule.sigmas);
    return at::tensor(schedule.timesteps, at::TensorOptions().dtype(at::kDouble));
  }

  StepOutput do_step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                     NoiseSource& noise) override {
    check_step_inputs(model_output, sample, false);
    const size_t i = static_cast<size_t>(index_of(timestep));
    const float sigma = sigmas_[i];
    at::Tensor pred_original_sample;
    if (!v_prediction_) {
      pred_original_sample = sample - sigma * model_output;
    } else {
      const float sigma_sq_1 = sigma * sigma + 1.0f;
      pred_original_sample = model_output * (-sigma / sqrt32(sigma_sq_1)) + (sample / sigma_sq_1);
    }
    const float sigma_from = sigmas_[i], sigma_to = sigmas_[i + 1];
    const float from_sq = sigma_from * sigma_from, to_sq = sigma_to * sigma_to;
    const float sigma_up = sqrt32(to_sq * (from_sq - to_sq) / from_sq);
    const float sigma_down = sqrt32(to_sq - sigma_up * sigma_up);
    at::Tensor derivative = (sample - pred_original_sample) / sigma;
    const float dt = sigma_down - sigma;
    at::Tensor prev_sample = sample + derivative * dt;
    at::Tensor z = noise.randn(model_output.sizes(), model_output.scalar_type(), model_output.device());
    prev_sample = prev_sample + z * sigma_up;
    return {prev_sample, pred_original_sample};
  }

 private:
  bool v_prediction_ = false;
  std::vector<float> train_sigmas_, sigmas_;
  float init_noise_sigma_ = 1.0f;
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(const SchedulerConfig& config) {
  return std::make_unique<EulerAncestralScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
