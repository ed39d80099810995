// EulerDiscreteScheduler (diffusers v0.15.0, schedulers.md §6): Euler steps in sigma space
// (Karras et al. 2022, Algorithm 2). Fractional float64 timesteps; inputs scaled by
// 1 / sqrt(sigma² + 1); one noise draw per step even when unused (s_churn = 0).
#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>

namespace viscpm::diffusion::detail {
namespace {

class EulerScheduler final : public SigmaSpaceScheduler {
 public:
  explicit EulerScheduler(const SchedulerConfig& config) {
    auto params = beta_params();
    params.insert(params.end(), {
                                    {"prediction_type", "epsilon"},
                                    {"interpolation_type", "linear"},
                                    {"use_karras_sigmas", false},
                                });
    ResolvedConfig resolved = resolve_config(config, params);
    effective_config_ = std::move(resolved.effective);
    ignored_config_keys_ = std::move(resolved.ignored);
    init_noise_schedule(/*allow_sigmoid=*/false);

    ConfigReader read(effective_config_, class_name());
    prediction_type_ = read.choice("prediction_type", {"epsilon", "v_prediction", "sample", "original_sample"});
    interpolation_type_ = read.choice("interpolation_type", {"linear", "log_linear"});
    use_karras_sigmas_ = read.boolean("use_karras_sigmas");
    init_sigmas();
  }

  std::string name() const override { return "euler"; }
  std::string class_name() const override { return "EulerDiscreteScheduler"; }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    return set_sigma_schedule(n, interpolation_type_, use_karras_sigmas_);
  }

  StepOutput do_step(const at::Tensor& model_output, double timestep, const at::Tensor& sample_in,
                     NoiseSource& noise) override {
    check_step_inputs(model_output, sample_in, false);
    const size_t i = static_cast<size_t>(index_of(timestep));
    const float sigma = sigmas_[i];
    const StepOptions& o = step_options_;
    const double gamma = (o.s_tmin <= sigma && sigma <= o.s_tmax)
                             ? std::min(o.s_churn / static_cast<double>(sigmas_.size() - 1), std::sqrt(2.0) - 1)
                             : 0.0;
    // v0.15.0 draws here unconditionally: the draw advances the generator even when unused.
    at::Tensor z = noise.randn(model_output.sizes(), model_output.scalar_type(), model_output.device());
    const float sigma_hat = sigma * static_cast<float>(gamma + 1);
    at::Tensor sample = sample_in;
    if (gamma > 0) {
      at::Tensor eps = z * o.s_noise;
      sample = sample + eps * sqrt32(sigma_hat * sigma_hat - sigma * sigma);
    }

    // v0.15.0 scales epsilon by sigma_hat but v by sigma.
    at::Tensor pred_original_sample =
        prediction_type_ == "epsilon"        ? predict_original(model_output, sample, sigma_hat, false)
        : prediction_type_ == "v_prediction" ? predict_original(model_output, sample, sigma, true)
                                             : model_output;  // sample / original_sample
    at::Tensor derivative = (sample - pred_original_sample) / sigma_hat;
    const float dt = sigmas_[i + 1] - sigma_hat;
    at::Tensor prev_sample = sample + derivative * dt;
    return {prev_sample, pred_original_sample};
  }

 private:
  std::string prediction_type_, interpolation_type_;
  bool use_karras_sigmas_ = false;
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_scheduler(const SchedulerConfig& config) {
  return std::make_unique<EulerScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
