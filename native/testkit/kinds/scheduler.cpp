// Golden cases of kind "scheduler" (fixtures README): Class.from_config(scheduler_config.json),
// set_timesteps(n), then a few (scale_model_input, step) rounds on recorded model outputs with
// a seeded CPU generator; every normal draw the steps take is recorded and compared.
#include "diffusion/scheduler.h"
#include "testkit/parity/kinds.h"

#include "common/error.h"

#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/stack.h>

namespace viscpm::parity {

namespace {

at::Tensor stack_cpu(const std::vector<at::Tensor>& tensors) { return at::stack(tensors).cpu(); }

}  // namespace

void run_scheduler(const Case& c, Result& r) {
  c10::InferenceMode inference;
  const json& params = c.params();
  const std::string config_path =
      params.contains("config") ? params.at("config").get<std::string>()
                                : c.suite().manifest().at("models").at("paint").at("scheduler_config").get<std::string>();
  auto config = c.suite().cached<diffusion::SchedulerConfig>("scheduler_config:" + config_path, [&] {
    return std::make_shared<diffusion::SchedulerConfig>(
        diffusion::SchedulerConfig::from_file(c.suite().resolve(config_path)));
  });
  const std::string class_name = params.at("scheduler_class").get<std::string>();
  auto scheduler = diffusion::make_scheduler(class_name, *config);
  scheduler->set_timesteps(params.at("num_inference_steps").get<int64_t>());

  r.compare(c, "timesteps", scheduler->timesteps());
  r.compare(c, "alphas_cumprod", scheduler->alphas_cumprod());
  if (c.has_expected("sigmas")) {
    auto sigmas = scheduler->sigmas();
    if (sigmas) {
      r.compare(c, "sigmas", *sigmas);
    } else {
      r.fail("sigmas", class_name + " has no sigmas");
    }
  }

  const at::Device device = c.suite().device();
  at::Tensor sample = c.input("sample").to(device, at::kFloat);
  const at::Tensor model_outputs = c.input("model_outputs").to(device, at::kFloat);
  const int64_t steps_run = params.contains("num_steps_run") ? params.at("num_steps_run").get<int64_t>()
                                                             : model_outputs.size(0);
  const std::vector<double> timesteps = scheduler->timestep_values();
  if (steps_run > model_outputs.size(0) || steps_run > static_cast<int64_t>(timesteps.size())) {
    r.fail("steps", "num_steps_run " + std::to_string(steps_run) + " exceeds the model outputs / timesteps");
    return;
  }

  // One CPU generator for the whole run, as the reference passes to every step.
  at::Generator generator = diffusion::make_cpu_generator(params.at("generator_seed").get<uint64_t>());
  diffusion::GeneratorNoise generator_noise(&generator);
  diffusion::RecordingNoise noise(generator_noise);
  std::vector<at::Tensor> scaled, prev, pred_original;
  for (int64_t i = 0; i < steps_run; ++i) {
    const double t = timesteps[static_cast<size_t>(i)];
    scaled.push_back(scheduler->scale_model_input(sample, t));
    diffusion::StepOutput out = scheduler->step(model_outputs[i], t, sample, noise);
    prev.push_back(out.prev_sample);
    if (out.pred_original_sample) pred_original.push_back(*out.pred_original_sample);
    sample = out.prev_sample;
  }
  r.compare(c, "scaled_model_inputs", stack_cpu(scaled));
  r.compare(c, "prev_samples", stack_cpu(prev));
  if (c.has_expected("pred_original_samples")) {
    if (pred_original.size() == prev.size()) {
      r.compare(c, "pred_original_samples", stack_cpu(pred_original));
    } else {
      r.fail("pred_original_samples", class_name + " returned no pred_original_sample");
    }
  }
  if (c.has_expected("generator_noise_draws")) {
    if (!noise.draws().empty()) {
      r.compare(c, "generator_noise_draws", stack_cpu(noise.draws()));
    } else {
      r.fail("generator_noise_draws", class_name + " drew no noise");
    }
  }

  json actual = json::object();
  actual["effective_config"] = scheduler->effective_config();
  actual["ignored_config_keys"] = scheduler->ignored_config_keys();
  actual["init_noise_sigma"] = scheduler->init_noise_sigma();
  if (scheduler->num_train_timesteps() >= 50) {
    auto fresh = diffusion::make_scheduler(class_name, *config);
    fresh->set_timesteps(50);
    json list = json::array();
    const bool integral = !at::isFloatingType(fresh->timesteps().scalar_type());
    for (double t : fresh->timestep_values()) {
      if (integral) {
        list.push_back(static_cast<int64_t>(t));
      } else {
        list.push_back(t);
      }
    }
    actual["timesteps_50"] = list;
  }
  actual["num_generator_draws"] = static_cast<int64_t>(noise.draws().size());
  r.compare_json(c, "json", actual, c.expected_json());
}

}  // namespace viscpm::parity
