// DPMSolverMultistepScheduler (diffusers v0.15.0, schedulers.md §8): DPM-Solver(++) with
// multistep updates of order 1-3; the SD default is DPM-Solver++ 2M (midpoint), whose last
// step goes to t = 0. No noise is drawn.
#include <ATen/ops/log.h>
#include <ATen/ops/sqrt.h>
#include <ATen/ops/tensor.h>

#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>

namespace viscpm::diffusion::detail {
namespace {

class DpmSolverMultistepScheduler final : public Scheduler {
 public:
  explicit DpmSolverMultistepScheduler(const SchedulerConfig& config) {
    auto params = beta_params();
    params.insert(params.end(), {
                                    {"solver_order", 2},
                                    {"prediction_type", "epsilon"},
                                    {"thresholding", false},
                                    {"dynamic_thresholding_ratio", 0.995},
                                    {"sample_max_value", 1.0},
                                    {"algorithm_type", "dpmsolver++"},
                                    {"solver_type", "midpoint"},
                                    {"lower_order_final", true},
                                    {"use_karras_sigmas", false},
                                });
    ResolvedConfig resolved = resolve_config(config, params);
    effective_config_ = std::move(resolved.effective);
    ignored_config_keys_ = std::move(resolved.ignored);
    init_noise_schedule(/*allow_sigmoid=*/false);

    ConfigReader read(effective_config_, class_name());
    solver_order_ = read.integer("solver_order", 1, 3);
    prediction_type_ = read.choice("prediction_type", {"epsilon", "sample", "v_prediction"});
    thresholding_ = read.boolean("thresholding");
    threshold_ratio_ = read.number_in("dynamic_thresholding_ratio", 0.0, 1.0);
    sample_max_value_ = read.number("sample_max_value");
    // v0.15.0 maps the names of related solvers onto its own and records the substitute.
    std::string algorithm = read.choice("algorithm_type", {"dpmsolver", "dpmsolver++", "deis"});
    if (algorithm == "deis") effective_config_["algorithm_type"] = algorithm = "dpmsolver++";
    std::string solver = read.choice("solver_type", {"midpoint", "heun", "logrho", "bh1", "bh2"});
    if (solver != "midpoint" && solver != "heun") effective_config_["solver_type"] = solver = "midpoint";
    data_prediction_ = algorithm == "dpmsolver++";
    midpoint_ = solver == "midpoint";
    lower_order_final_ = read.boolean("lower_order_final");
    use_karras_sigmas_ = read.boolean("use_karras_sigmas");

    // α_t = sqrt(ᾱ), σ_t = sqrt(1 - ᾱ), λ_t = log α_t - log σ_t, float32 as the reference.
    at::Tensor alpha_t = at::sqrt(alphas_cumprod_);
    at::Tensor sigma_t = at::sqrt(1 - alphas_cumprod_);
    at::Tensor lambda_t = at::log(alpha_t) - at::log(sigma_t);
    auto values = [](const at::Tensor& t) {
      at::Tensor c = t.contiguous();
      return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    alpha_ = values(alpha_t);
    sigma_ = values(sigma_t);
    lambda_ = values(lambda_t);
  }

  std::string name() const override { return "dpmsolver_multistep"; }
  std::string class_name() const override { return "DPMSolverMultistepScheduler"; }

  void reset() override {
    model_outputs_.assign(static_cast<size_t>(solver_order_), at::Tensor());
    lower_order_nums_ = 0;
  }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    std::vector<int64_t> timesteps;
    const int64_t last = num_train_timesteps_ - 1;
    if (use_karras_sigmas_) {
      std::vector<float> train_sigmas = training_sigmas(alphas_cumprod_values_);
      at::Tensor log_table = at::log(at::tensor(train_sigmas));
      const std::vector<float> log_sigmas(log_table.data_ptr<float>(), log_table.data_ptr<float>() + log_table.numel());
      // v0.15.0 passes the ascending table, so the ramp runs from the smallest sigma up; the
      // timesteps are flipped afterwards.
      std::vector<double> sigmas = karras_sigmas(train_sigmas.back(), train_sigmas.front(), n);
      for (double s : sigmas) timesteps.push_back(static_cast<int64_t>(np_round(sigma_to_t(s, log_sigmas))));
      std::reverse(timesteps.begin(), timesteps.end());
    } else {
      // round(linspace(0, T-1, n+1)) reversed, last (0) dropped.
      std::vector<double> points = np_linspace(0.0, static_cast<double>(last), n + 1);
      for (int64_t i = n; i >= 1; --i) timesteps.push_back(static_cast<int64_t>(np_round(points[i])));
    }
    std::vector<int64_t> unique;  // first occurrences, in order
    for (int64_t t : timesteps) {
      if (std::find(unique.begin(), unique.end(), t) == unique.end()) unique.push_back(t);
    }
    return at::tensor(unique, at::TensorOptions().dtype(at::kLong));
  }

  StepOutput do_step(const at::Tensor& model_output_in, double timestep, const at::Tensor& sample,
                     NoiseSource&) override {
    check_step_inputs(model_output_in, sample, false);
    const int64_t index = index_of(timestep);
    const int64_t count = static_cast<int64_t>(timestep_values_.size());
    const int64_t t = integer_timestep(timestep);
    const int64_t prev_t = index == count - 1 ? 0 : static_cast<int64_t>(timestep_values_[index + 1]);
    const bool lower_order_final = index == count - 1 && lower_order_final_ && count < 15;
    const bool lower_order_second = index == count - 2 && lower_order_final_ && count < 15;

    at::Tensor converted = convert_model_output(model_output_in, t, sample);
    std::rotate(model_outputs_.begin(), model_outputs_.begin() + 1, model_outputs_.end());
    model_outputs_.back() = converted;

    at::Tensor prev_sample;
    if (solver_order_ == 1 || lower_order_nums_ < 1 || lower_order_final) {
      prev_sample = first_order_update(converted, t, prev_t, sample);
    } else if (solver_order_ == 2 || lower_order_nums_ < 2 || lower_order_second) {
      const int64_t s1 = static_cast<int64_t>(timestep_values_[index - 1]);
      prev_sample = second_order_update(t, s1, prev_t, sample);
    } else {
      const int64_t s1 = static_cast<int64_t>(timestep_values_[index - 1]);
      const int64_t s2 = static_cast<int64_t>(timestep_values_[index - 2]);
      prev_sample = third_order_update(t, s1, s2, prev_t, sample);
    }
    if (lower_order_nums_ < solver_order_) ++lower_order_nums_;
    return {prev_sample, std::nullopt};
  }

 private:
  // DPM-Solver++ works on the data prediction x0, DPM-Solver on the noise prediction ε.
  at::Tensor convert_model_output(const at::Tensor& model_output, int64_t t, const at::Tensor& sample) const {
    const float alpha_t = alpha_[t], sigma_t = sigma_[t];
    if (data_prediction_) {
      at::Tensor x0;
      if (prediction_type_ == "epsilon") {
        x0 = (sample - sigma_t * model_output) / alpha_t;
      } else if (prediction_type_ == "sample") {
        x0 = model_output;
      } else {
        x0 = alpha_t * sample - sigma_t * model_output;
      }
      if (thresholding_) x0 = threshold_sample(x0, threshold_ratio_, sample_max_value_);
      return x0;
    }
    if (prediction_type_ == "epsilon") return model_output;
    if (prediction_type_ == "sample") return (sample - alpha_t * model_output) / sigma_t;
    return alpha_t * model_output + sigma_t * sample;
  }

  at::Tensor first_order_update(const at::Tensor& m, int64_t s, int64_t t, const at::Tensor& sample) const {
    const float h = lambda_[t] - lambda_[s];
    if (data_prediction_) {
      return (sigma_[t] / sigma_[s]) * sample - (alpha_[t] * (std::exp(-h) - 1.0f)) * m;
    }
    return (alpha_[t] / alpha_[s]) * sample - (sigma_[t] * (std::exp(h) - 1.0f)) * m;
  }

  at::Tensor second_order_update(int64_t s0, int64_t s1, int64_t t, const at::Tensor& sample) const {
    const at::Tensor& m0 = model_outputs_[model_outputs_.size() - 1];
    const at::Tensor& m1 = model_outputs_[model_outputs_.size() - 2];
    const float h = lambda_[t] - lambda_[s0], h_0 = lambda_[s0] - lambda_[s1];
    const float r0 = h_0 / h;
    const at::Tensor& D0 = m0;
    at::Tensor D1 = (1.0f / r0) * (m0 - m1);
    if (data_prediction_) {
      const float e = std::exp(-h) - 1.0f;
      at::Tensor x = (sigma_[t] / sigma_[s0]) * sample - (alpha_[t] * e) * D0;
      if (midpoint_) return x - 0.5f * (alpha_[t] * e) * D1;
      return x + (alpha_[t] * (e / h + 1.0f)) * D1;
    }
    const float e = std::exp(h) - 1.0f;
    at::Tensor x = (alpha_[t] / alpha_[s0]) * sample - (sigma_[t] * e) * D0;
    if (midpoint_) return x - 0.5f * (sigma_[t] * e) * D1;
    return x - (sigma_[t] * (e / h - 1.0f)) * D1;
  }

  at::Tensor third_order_update(int64_t s0, int64_t s1, int64_t s2, int64_t t, const at::Tensor& sample) const {
    const size_t n = model_outputs_.size();
    const at::Tensor &m0 = model_outputs_[n - 1], &m1 = model_outputs_[n - 2], &m2 = model_outputs_[n - 3];
    const float h = lambda_[t] - lambda_[s0], h_0 = lambda_[s0] - lambda_[s1], h_1 = lambda_[s1] - lambda_[s2];
    const float r0 = h_0 / h, r1 = h_1 / h;
    const at::Tensor& D0 = m0;
    at::Tensor D1_0 = (1.0f / r0) * (m0 - m1), D1_1 = (1.0f / r1) * (m1 - m2);
    at::Tensor D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1);
    at::Tensor D2 = (1.0f / (r0 + r1)) * (D1_0 - D1_1);
    if (data_prediction_) {
      const float e = std::exp(-h) - 1.0f;
      return (sigma_[t] / sigma_[s0]) * sample - (alpha_[t] * e) * D0 + (alpha_[t] * (e / h + 1.0f)) * D1 -
             (alpha_[t] * ((e + h) / (h * h) - 0.5f)) * D2;
    }
    const float e = std::exp(h) - 1.0f;
    return (alpha_[t] / alpha_[s0]) * sample - (sigma_[t] * e) * D0 - (sigma_[t] * (e / h - 1.0f)) * D1 -
           (sigma_[t] * ((e - h) / (h * h) - 0.5f)) * D2;
  }

  int64_t solver_order_ = 2;
  std::string prediction_type_;
  bool thresholding_ = false, data_prediction_ = true, midpoint_ = true, lower_order_final_ = true;
  bool use_karras_sigmas_ = false;
  double threshold_ratio_ = 0.995, sample_max_value_ = 1.0;
  std::vector<float> alpha_, sigma_, lambda_;
  // Step history: the last `solver_order` converted model outputs (oldest first).
  std::vector<at::Tensor> model_outputs_;
  int64_t lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpmsolver_multistep_scheduler(const SchedulerConfig& config) {
  return std::make_unique<DpmSolverMultistepScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
