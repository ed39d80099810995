// EulerAncestralDiscreteScheduler (diffusers v0.15.0, schedulers.md §7): Euler's sigmas,
// timesteps and input scaling; each step goes down to sigma_down and adds fresh noise of
// std sigma_up (one draw per step, the last one included).
#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>

namespace viscpm::diffusion::detail {
namespace {

class EulerAncestralScheduler final : public SigmaSpaceScheduler {
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
    init_sigmas();
  }

  std::string name() const override { return "euler_ancestral"; }
  std::string class_name() const override { return "EulerAncestralDiscreteScheduler"; }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    return set_sigma_schedule(n, "linear", /*use_karras_sigmas=*/false);
  }

  StepOutput do_step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                     NoiseSource& noise) override {
    check_step_inputs(model_output, sample, false);
    const size_t i = static_cast<size_t>(index_of(timestep));
    const float sigma = sigmas_[i];
    at::Tensor pred_original_sample = predict_original(model_output, sample, sigma, v_prediction_);
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
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(const SchedulerConfig& config) {
  return std::make_unique<EulerAncestralScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
