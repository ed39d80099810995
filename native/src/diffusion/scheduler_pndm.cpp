// PNDMScheduler (diffusers v0.15.0, schedulers.md §5): pseudo linear multistep (PLMS) with
// skip_prk_steps = true as in the SD config, or Runge-Kutta warm-up steps (PRK) otherwise.
// No noise is drawn.
#include <ATen/ops/tensor.h>

#include "diffusion/scheduler_internal.h"

#include "common/error.h"

#include <algorithm>
#include <deque>

namespace viscpm::diffusion::detail {
namespace {

class PndmScheduler final : public Scheduler {
 public:
  explicit PndmScheduler(const SchedulerConfig& config) {
    auto params = beta_params();
    params.insert(params.end(), {
                                    {"skip_prk_steps", false},
                                    {"set_alpha_to_one", false},
                                    {"prediction_type", "epsilon"},
                                    {"steps_offset", 0},
                                });
    ResolvedConfig resolved = resolve_config(config, params);
    effective_config_ = std::move(resolved.effective);
    ignored_config_keys_ = std::move(resolved.ignored);
    init_noise_schedule(/*allow_sigmoid=*/false);

    ConfigReader read(effective_config_, class_name());
    skip_prk_steps_ = read.boolean("skip_prk_steps");
    final_alpha_cumprod_ = read.boolean("set_alpha_to_one") ? 1.0f : alpha_cumprod(0);
    prediction_type_ = read.choice("prediction_type", {"epsilon", "v_prediction"});
    steps_offset_ = read.integer("steps_offset", 0, num_train_timesteps_ - 1);
  }

  std::string name() const override { return "pndm"; }
  std::string class_name() const override { return "PNDMScheduler"; }

  void reset() override {
    ets_.clear();
    counter_ = 0;
    cur_model_output_ = at::Tensor();
    cur_sample_ = at::Tensor();
  }

 protected:
  at::Tensor compute_timesteps(int64_t n) override {
    step_ratio_ = num_train_timesteps_ / n;
    std::vector<int64_t> base(static_cast<size_t>(n));  // ascending
    for (int64_t i = 0; i < n; ++i) base[static_cast<size_t>(i)] = i * step_ratio_ + steps_offset_;
    if (base.back() >= num_train_timesteps_) {
      throw InvalidArgument("PNDMScheduler: steps_offset " + std::to_string(steps_offset_) + " with " +
                            std::to_string(n) + " steps puts the first timestep past num_train_timesteps");
    }
    prk_timesteps_.clear();
    std::vector<int64_t> plms;  // ascending, reversed below
    if (skip_prk_steps_) {
      // base[0 .. n-2], base[n-2] again, base[n-1]: the first interval is taken twice.
      plms.assign(base.begin(), base.end() - 1);
      if (n >= 2) plms.push_back(base[static_cast<size_t>(n - 2)]);
      plms.push_back(base.back());
    } else {
      // Runge-Kutta warm-up on the last (highest) `order` base timesteps and their midpoints.
      const int64_t order = 4, half = step_ratio_ / 2;
      if (n < order) {
        throw InvalidArgument("PNDMScheduler: with skip_prk_steps = false the number of inference steps "
                              "must be at least 4, got " + std::to_string(n));
      }
      std::vector<int64_t> pairs;
      for (int64_t i = n - order; i < n; ++i) {
        pairs.push_back(base[static_cast<size_t>(i)]);
        pairs.push_back(base[static_cast<size_t>(i)] + half);
      }
      std::vector<int64_t> doubled;  // pairs[:-1].repeat(2)[1:-1]
      for (size_t i = 0; i + 1 < pairs.size(); ++i) {
        doubled.push_back(pairs[i]);
        doubled.push_back(pairs[i]);
      }
      prk_timesteps_.assign(doubled.begin() + 1, doubled.end() - 1);
      std::reverse(prk_timesteps_.begin(), prk_timesteps_.end());
      plms.assign(base.begin(), base.end() - 3);
    }
    std::reverse(plms.begin(), plms.end());
    std::vector<int64_t> all = prk_timesteps_;
    all.insert(all.end(), plms.begin(), plms.end());
    return at::tensor(all, at::TensorOptions().dtype(at::kLong));
  }

  StepOutput do_step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                     NoiseSource&) override {
    check_step_inputs(model_output, sample, false);
    const int64_t t = integer_timestep(timestep);
    if (counter_ < static_cast<int64_t>(prk_timesteps_.size()) && !skip_prk_steps_) {
      return {step_prk(model_output, t, sample), std::nullopt};
    }
    return {step_plms(model_output, t, sample), std::nullopt};
  }

 private:
  at::Tensor step_prk(const at::Tensor& model_output_in, int64_t t, const at::Tensor& sample) {
    const int64_t diff_to_prev = counter_ % 2 ? 0 : step_ratio_ / 2;
    const int64_t prev_t = t - diff_to_prev;
    const int64_t anchor_t = prk_timesteps_[static_cast<size_t>(counter_ / 4 * 4)];
    at::Tensor model_output = model_output_in;
    // Runge-Kutta 4 weights 1/6, 1/3, 1/3, 1/6 accumulated over four calls.
    auto accumulate = [&](double weight) {
      at::Tensor term = weight * model_output_in;
      cur_model_output_ = cur_model_output_.defined() ? cur_model_output_ + term : term;
    };
    if (counter_ % 4 == 0) {
      accumulate(1.0 / 6);
      ets_.push_back(model_output_in);
      cur_sample_ = sample;
    } else if ((counter_ - 1) % 4 == 0 || (counter_ - 2) % 4 == 0) {
      accumulate(1.0 / 3);
    } else {
      at::Tensor last = (1.0 / 6) * model_output_in;
      model_output = cur_model_output_.defined() ? cur_model_output_ + last : last;
      cur_model_output_ = at::Tensor();
    }
    const at::Tensor& start = cur_sample_.defined() ? cur_sample_ : sample;
    at::Tensor prev_sample = prev_sample_from(start, anchor_t, prev_t, model_output);
    ++counter_;
    return prev_sample;
  }

  at::Tensor step_plms(const at::Tensor& model_output_in, int64_t t, const at::Tensor& sample_in) {
    if (!skip_prk_steps_ && ets_.size() < 3) {
      throw InvalidArgument("PNDMScheduler: PLMS steps need the 12 Runge-Kutta warm-up steps first "
                            "(call step() on every timestep in order)");
    }
    int64_t prev_t = t - step_ratio_;
    if (counter_ != 1) {
      while (ets_.size() > 3) ets_.pop_front();
      ets_.push_back(model_output_in);
    } else {
      prev_t = t;  // the second call re-does the first interval from the same sample
      t = t + step_ratio_;
    }
    at::Tensor model_output, sample = sample_in;
    const size_t n = ets_.size();
    if (n == 1 && counter_ == 0) {
      model_output = model_output_in;
      cur_sample_ = sample_in;
    } else if (n == 1 && counter_ == 1) {
      model_output = (model_output_in + ets_[0]) / 2;
      sample = cur_sample_;
      cur_sample_ = at::Tensor();
    } else if (n == 2) {
      model_output = (3 * ets_[1] - ets_[0]) / 2;
    } else if (n == 3) {
      model_output = (23 * ets_[2] - 16 * ets_[1] + 5 * ets_[0]) / 12;
    } else {
      model_output = (1.0 / 24) * (55 * ets_[n - 1] - 59 * ets_[n - 2] + 37 * ets_[n - 3] - 9 * ets_[n - 4]);
    }
    at::Tensor prev_sample = prev_sample_from(sample, t, prev_t, model_output);
    ++counter_;
    return prev_sample;
  }

  // Formula (9) of the PNDM paper: x_{t-δ} from x_t and ε.
  at::Tensor prev_sample_from(const at::Tensor& sample, int64_t t, int64_t prev_t, at::Tensor model_output) {
    const float alpha_prod_t = alpha_cumprod(t);
    const float alpha_prod_t_prev = prev_t >= 0 ? alpha_cumprod(prev_t) : final_alpha_cumprod_;
    const float beta_prod_t = 1.0f - alpha_prod_t;
    const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
    if (prediction_type_ == "v_prediction") {
      model_output = sqrt32(alpha_prod_t) * model_output + sqrt32(beta_prod_t) * sample;
    }
    const float sample_coeff = sqrt32(alpha_prod_t_prev / alpha_prod_t);
    const float denom = alpha_prod_t * sqrt32(beta_prod_t_prev) + sqrt32(alpha_prod_t * beta_prod_t * alpha_prod_t_prev);
    return sample_coeff * sample - (alpha_prod_t_prev - alpha_prod_t) * model_output / denom;
  }

  bool skip_prk_steps_ = false;
  float final_alpha_cumprod_ = 1.0f;
  std::string prediction_type_;
  int64_t steps_offset_ = 0, step_ratio_ = 1;
  std::vector<int64_t> prk_timesteps_;
  // Step history.
  std::deque<at::Tensor> ets_;
  int64_t counter_ = 0;
  at::Tensor cur_model_output_, cur_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm_scheduler(const SchedulerConfig& config) {
  return std::make_unique<PndmScheduler>(config);
}

}  // namespace viscpm::diffusion::detail
