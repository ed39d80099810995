// Pieces shared by the scheduler implementations (not part of the public interface).
#pragma once

#include "diffusion/scheduler.h"

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

namespace viscpm::diffusion::detail {

// One constructor parameter of a diffusers scheduler class and its v0.15.0 default.
struct ConfigParam {
  const char* name;
  ordered_json default_value;
};

// The parameters in signature order shared by every class, first in each signature.
std::vector<ConfigParam> beta_params();

// `Class.from_config`: the effective parameters (class defaults overridden by the keys the
// class takes, signature order) and the config keys it ignores (file order, no "_" keys).
struct ResolvedConfig {
  ordered_json effective;
  std::vector<std::string> ignored;
};
ResolvedConfig resolve_config(const SchedulerConfig& config, const std::vector<ConfigParam>& params);

// Typed, validated reads of an effective config; failures are InvalidArgument naming the
// class, the key and the bad value.
class ConfigReader {
 public:
  ConfigReader(const ordered_json& effective, std::string class_name)
      : config_(effective), class_name_(std::move(class_name)) {}
  int64_t integer(const char* key, int64_t min, int64_t max) const;
  double number(const char* key) const;  // finite
  double number_in(const char* key, double min, double max) const;
  bool boolean(const char* key) const;
  std::string choice(const char* key, std::initializer_list<const char*> allowed) const;
  bool is_null(const char* key) const;
  std::vector<double> number_list(const char* key) const;
  [[noreturn]] void fail(const char* key, const std::string& why) const;
  const std::string& class_name() const { return class_name_; }

 private:
  const ordered_json& config_;
  std::string class_name_;
};

// Scalar pow(v, 0.5) of the reference's 0-d float32 tensors (torch computes it as sqrt).
inline float sqrt32(float v) { return std::sqrt(v); }

// torch.linspace(start, end, steps, dtype=float32) as torch 1.13's CPU kernel computes it
// (bit for bit on the reference's x86-64 build): two-ended, the base of every 8-lane block
// fused (fma), lanes added in float32.
std::vector<float> torch_linspace_f32(double start, double end, int64_t steps);

// numpy.linspace(start, stop, num) in float64, bit for bit (i * step + start, last = stop).
std::vector<double> np_linspace(double start, double stop, int64_t num);
// numpy.interp(x, [0, 1, ..., n-1], fp) in float64.
double np_interp_index(double x, const std::vector<double>& fp);
// numpy.round (half to even).
double np_round(double v);

// Karras et al. (2022) sigma ramp of diffusers' _convert_to_karras (rho = 7), float64.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n);
// diffusers' _sigma_to_t: the fractional training step of `sigma` given log training sigmas.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

// Training sigmas sqrt((1 - ᾱ) / ᾱ) in float32 (Euler classes, Karras timesteps).
std::vector<float> training_sigmas(const std::vector<float>& alphas_cumprod);

// The Euler classes' inference schedule: float64 timesteps and float32 sigmas (one more
// than the timesteps, ending in 0). interpolation: "linear" or "log_linear".
struct EulerSchedule {
  std::vector<double> timesteps;
  std::vector<float> sigmas;
};
EulerSchedule euler_schedule(const std::vector<float>& train_sigmas, int64_t n, const std::string& interpolation,
                             bool use_karras_sigmas);

// Imagen dynamic thresholding of x0 (diffusers' _threshold_sample): per batch row, clamp to
// the `ratio` quantile of |x0| (at least 1, at most max_value) and rescale.
at::Tensor threshold_sample(const at::Tensor& sample, double ratio, double max_value);

// Shape check of step() inputs (model output may carry 2x channels for learned variances).
void check_step_inputs(const at::Tensor& model_output, const at::Tensor& sample, bool allow_double_channels);

// What the two Euler classes share: training sigmas and init_noise_sigma fixed at
// construction, the inference sigmas of set_timesteps, input scaling 1 / sqrt(sigma² + 1)
// and the x0 prediction from epsilon or v.
class SigmaSpaceScheduler : public Scheduler {
 public:
  double init_noise_sigma() const override { return init_noise_sigma_; }
  std::optional<at::Tensor> sigmas() const override;
  at::Tensor scale_model_input(const at::Tensor& sample, double timestep) const override;

 protected:
  // After init_noise_schedule(): the training sigmas and the initial noise sigma.
  void init_sigmas();
  // Fills sigmas_ and returns the float64 timesteps.
  at::Tensor set_sigma_schedule(int64_t n, const std::string& interpolation, bool use_karras_sigmas);
  // x0 from the model output at `sigma` (epsilon or v-prediction).
  static at::Tensor predict_original(const at::Tensor& model_output, const at::Tensor& sample, float sigma,
                                     bool v_prediction);

  std::vector<float> train_sigmas_, sigmas_;
  float init_noise_sigma_ = 1.0f;
};

// The six classes (one file each).
std::unique_ptr<Scheduler> make_ddpm_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_ddim_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_pndm_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_dpmsolver_multistep_scheduler(const SchedulerConfig& config);

}  // namespace viscpm::diffusion::detail
