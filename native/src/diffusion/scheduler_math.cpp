// numpy-exact helpers of the reference's timestep/sigma computations, Karras sigmas, dynamic
// thresholding and input checks.
#include <ATen/ops/clamp.h>
#include <ATen/ops/log.h>
#include <ATen/ops/quantile.h>
#include <ATen/ops/tensor.h>

#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace viscpm::diffusion::detail {

std::vector<float> torch_linspace_f32(double start_in, double end_in, int64_t steps) {
  // The obvious formulas differ from the reference by 1 ulp for a third of the SD betas
  // (schedulers.md §2); this reproduces the reference kernel: step = (end - start) / (steps - 1)
  // in float32; element idx < steps/2 is start + step * idx, later ones end - step * (steps -
  // idx - 1), both fused; loops over pairs of 8-lane vectors whose lanes are base + j * step
  // (separately rounded); the tail (< 16 elements) element by element. (Outputs over 32768
  // elements were split between threads by the reference and are not block-aligned there.)
  const float start = static_cast<float>(start_in), end = static_cast<float>(end_in);
  std::vector<float> out(static_cast<size_t>(steps));
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  auto element = [&](int64_t idx) {
    return idx < halfway ? std::fma(step, static_cast<float>(idx), start)
                         : std::fma(-step, static_cast<float>(steps - idx - 1), end);
  };
  constexpr int64_t kLanes = 8;
  int64_t i = 0;
  for (; i + 2 * kLanes <= steps; i += 2 * kLanes) {
    for (int64_t block = i; block < i + 2 * kLanes; block += kLanes) {
      const float base = element(block);
      for (int64_t j = 0; j < kLanes; ++j) {
        volatile float offset = static_cast<float>(j) * step;  // not fused
        out[static_cast<size_t>(block + j)] = base + offset;
      }
    }
  }
  for (; i < steps; ++i) out[static_cast<size_t>(i)] = element(i);
  return out;
}

std::vector<double> np_linspace(double start, double stop, int64_t num) {
  // numpy: y = arange(num) * step + start (two roundings), y[-1] = stop; for num == 1 the
  // step is undefined and y = [start].
  std::vector<double> y(static_cast<size_t>(num));
  if (num == 1) {
    y[0] = start;
    return y;
  }
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (int64_t i = 0; i < num; ++i) {
    volatile double scaled = static_cast<double>(i) * step;  // no fused multiply-add
    y[static_cast<size_t>(i)] = scaled + start;
  }
  y.back() = stop;
  return y;
}

double np_interp_index(double x, const std::vector<double>& fp) {
  const int64_t n = static_cast<int64_t>(fp.size());
  if (std::isnan(x)) return x;
  if (x <= 0.0) return fp.front();  // left of (or at) xp[0]
  if (x >= static_cast<double>(n - 1)) return fp.back();
  const int64_t j = static_cast<int64_t>(std::floor(x));
  if (static_cast<double>(j) == x) return fp[static_cast<size_t>(j)];
  const double slope = (fp[j + 1] - fp[j]) / 1.0;
  volatile double scaled = slope * (x - static_cast<double>(j));
  return scaled + fp[static_cast<size_t>(j)];
}

double np_round(double v) { return std::nearbyint(v); }  // default rounding mode: half to even

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n) {
  const double rho = 7.0;
  const std::vector<double> ramp = np_linspace(0.0, 1.0, n);
  const double min_inv_rho = std::pow(sigma_min, 1.0 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1.0 / rho);
  std::vector<double> sigmas(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i) {
    volatile double scaled = ramp[i] * (min_inv_rho - max_inv_rho);
    sigmas[i] = std::pow(max_inv_rho + scaled, rho);
  }
  return sigmas;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  // numpy 1.x value-based casting makes every array expression here float32 (the float64
  // log sigma scalar is cast down); only the final blend of the two indices is float64.
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  const float log_sigma = static_cast<float>(std::log(sigma));
  // argmax(cumsum(log_sigma - log_sigmas >= 0)): the last index whose log sigma is <= ours,
  // or 0 when there is none; clipped so that a right neighbour exists.
  int64_t low = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (log_sigma - log_sigmas[static_cast<size_t>(i)] >= 0.0f) low = i;
  }
  low = std::min(low, n - 2);
  const int64_t high = low + 1;
  const float lo = log_sigmas[static_cast<size_t>(low)], hi = log_sigmas[static_cast<size_t>(high)];
  float w = (lo - log_sigma) / (lo - hi);
  w = std::min(std::max(w, 0.0f), 1.0f);
  return static_cast<double>(1.0f - w) * static_cast<double>(low) + static_cast<double>(w) * static_cast<double>(high);
}

std::vector<float> training_sigmas(const std::vector<float>& alphas_cumprod) {
  std::vector<float> sigmas(alphas_cumprod.size());
  for (size_t i = 0; i < sigmas.size(); ++i) {
    const float a = alphas_cumprod[i];
    sigmas[i] = std::sqrt((1.0f - a) / a);
  }
  return sigmas;
}

EulerSchedule euler_schedule(const std::vector<float>& train_sigmas, int64_t n, const std::string& interpolation,
                             bool use_karras_sigmas) {
  const int64_t num_train = static_cast<int64_t>(train_sigmas.size());
  EulerSchedule schedule;
  schedule.timesteps = np_linspace(0.0, static_cast<double>(num_train - 1), n);
  std::reverse(schedule.timesteps.begin(), schedule.timesteps.end());

  std::vector<double> sigmas;  // float64 like the reference's numpy arrays
  if (interpolation == "linear") {
    const std::vector<double> fp(train_sigmas.begin(), train_sigmas.end());
    for (double t : schedule.timesteps) sigmas.push_back(np_interp_index(t, fp));
  } else {  // log_linear: float32 linspace of log sigmas (n + 1 points, as v0.15.0), exp'd
    const std::vector<float> logs = torch_linspace_f32(std::log(train_sigmas.back()), std::log(train_sigmas.front()), n + 1);
    at::Tensor values = at::tensor(logs).exp();
    for (int64_t i = 0; i <= n; ++i) sigmas.push_back(values[i].item<float>());
  }
  if (use_karras_sigmas) {
    // sigma_min / sigma_max as v0.15.0 reads them: the last and first entries.
    sigmas = karras_sigmas(sigmas.back(), sigmas.front(), n);
    at::Tensor log_table = at::log(at::tensor(train_sigmas));
    const std::vector<float> log_sigmas(log_table.data_ptr<float>(), log_table.data_ptr<float>() + num_train);
    for (size_t i = 0; i < schedule.timesteps.size(); ++i) schedule.timesteps[i] = sigma_to_t(sigmas[i], log_sigmas);
  }
  for (double s : sigmas) schedule.sigmas.push_back(static_cast<float>(s));
  schedule.sigmas.push_back(0.0f);
  return schedule;
}

at::Tensor threshold_sample(const at::Tensor& sample, double ratio, double max_value) {
  const auto dtype = sample.scalar_type();
  at::Tensor x = sample;
  if (dtype != at::kFloat && dtype != at::kDouble) x = x.to(at::kFloat);  // quantile needs float
  const auto shape = x.sizes().vec();
  x = x.reshape({shape[0], -1});
  at::Tensor s = at::quantile(x.abs(), ratio, /*dim=*/1);
  s = at::clamp(s, 1.0, max_value).unsqueeze(1);
  x = at::clamp(x, -s, s) / s;
  return x.reshape(shape).to(dtype);
}

void check_step_inputs(const at::Tensor& model_output, const at::Tensor& sample, bool allow_double_channels) {
  if (model_output.sizes() == sample.sizes()) return;
  bool doubled = allow_double_channels && model_output.dim() == sample.dim() && sample.dim() >= 2 &&
                 model_output.size(1) == 2 * sample.size(1);
  for (int64_t d = 0; doubled && d < sample.dim(); ++d) {
    if (d != 1 && model_output.size(d) != sample.size(d)) doubled = false;
  }
  if (doubled) return;
  std::ostringstream message;
  message << "scheduler step: model_output shape " << model_output.sizes() << " does not match sample shape "
          << sample.sizes();
  throw InvalidArgument(message.str());
}

std::optional<at::Tensor> SigmaSpaceScheduler::sigmas() const {
  if (sigmas_.empty()) return std::nullopt;
  return at::tensor(sigmas_, at::TensorOptions().dtype(at::kFloat));
}

at::Tensor SigmaSpaceScheduler::scale_model_input(const at::Tensor& sample, double timestep) const {
  timesteps();  // throws before set_timesteps
  const float sigma = sigmas_[static_cast<size_t>(index_of(timestep))];
  return sample / sqrt32(sigma * sigma + 1.0f);
}

void SigmaSpaceScheduler::init_sigmas() {
  train_sigmas_ = training_sigmas(alphas_cumprod_values_);
  init_noise_sigma_ = *std::max_element(train_sigmas_.begin(), train_sigmas_.end());
}

at::Tensor SigmaSpaceScheduler::set_sigma_schedule(int64_t n, const std::string& interpolation,
                                                   bool use_karras_sigmas) {
  EulerSchedule schedule = euler_schedule(train_sigmas_, n, interpolation, use_karras_sigmas);
  sigmas_ = std::move(schedule.sigmas);
  return at::tensor(schedule.timesteps, at::TensorOptions().dtype(at::kDouble));
}

at::Tensor SigmaSpaceScheduler::predict_original(const at::Tensor& model_output, const at::Tensor& sample, float sigma,
                                                 bool v_prediction) {
  if (!v_prediction) return sample - sigma * model_output;
  const float sigma_sq_1 = sigma * sigma + 1.0f;
  return model_output * (-sigma / sqrt32(sigma_sq_1)) + (sample / sigma_sq_1);
}

}  // namespace viscpm::diffusion::detail
