// Scheduler base class (noise schedule tables, timestep bookkeeping), noise sources and the
// name -> class factory.
#include "diffusion/scheduler_internal.h"

#include "common/error.h"
#include "common/tensor_text.h"
#include "kernels/ops.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tensor.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <sstream>

namespace viscpm::diffusion {

namespace {

}  // namespace

// --- noise sources -------------------------------------------------------------------------

at::Tensor GeneratorNoise::randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) {
  auto options = at::TensorOptions().dtype(dtype);
  if (generator_ == nullptr || !generator_->defined()) {
    return at::randn(shape, options.device(device));  // the device's default generator
  }
  const at::Device generator_device = generator_->device();
  if (generator_device.type() == device.type()) {
    return at::randn(shape, *generator_, options.device(device));
  }
  if (generator_device.is_cpu()) {
    // diffusers' randn_tensor: a CPU generator draws on the CPU, then the tensor moves.
    return at::randn(shape, *generator_, options.device(at::kCPU)).to(device);
  }
  throw InvalidArgument("cannot draw a " + device.str() + " tensor from a " + generator_device.str() +
                        " generator; use a CPU generator or one on the sample's device");
}

at::Tensor ReplayNoise::randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) {
  if (next_ >= draws_.size()) {
    throw InvalidArgument("recorded noise exhausted: the scheduler asked for draw " + std::to_string(next_ + 1) +
                          " but only " + std::to_string(draws_.size()) + " were given");
  }
  const at::Tensor& draw = draws_[next_];
  if (!draw.defined() || draw.sizes() != shape) {
    throw InvalidArgument("recorded noise draw " + std::to_string(next_ + 1) + " has shape " +
                          (draw.defined() ? shape_string(draw.sizes()) : std::string("(undefined)")) +
                          ", the scheduler needs " + shape_string(shape));
  }
  ++next_;
  return draw.to(device, dtype);
}

at::Tensor RecordingNoise::randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) {
  at::Tensor draw = inner_.randn(shape, dtype, device);
  draws_.push_back(draw);
  return draw;
}

at::Generator make_cpu_generator(uint64_t seed) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_current_seed(seed);  // as torch.Generator().manual_seed(seed)
  return generator;
}

// --- base class ----------------------------------------------------------------------------

void Scheduler::init_noise_schedule(bool allow_sigmoid) {
  detail::ConfigReader config(effective_config_, class_name());
  num_train_timesteps_ = config.integer("num_train_timesteps", 1, 100000);
  const int64_t n = num_train_timesteps_;

  if (!config.is_null("trained_betas")) {
    std::vector<double> list = config.number_list("trained_betas");
    if (static_cast<int64_t>(list.size()) != n) {
      config.fail("trained_betas", "must have num_train_timesteps (" + std::to_string(n) + ") entries, has " +
                                       std::to_string(list.size()));
    }
    betas_ = at::tensor(list, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  } else {
    const std::string schedule =
        allow_sigmoid ? config.choice("beta_schedule", {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"})
                      : config.choice("beta_schedule", {"linear", "scaled_linear", "squaredcos_cap_v2"});
    if (schedule == "squaredcos_cap_v2") {
      // Glide cosine schedule, computed in float64 and stored as float32.
      auto alpha_bar = [](double t) {
        double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
        return c * c;
      };
      std::vector<double> betas(n);
      for (int64_t i = 0; i < n; ++i) {
        double t1 = static_cast<double>(i) / n, t2 = static_cast<double>(i + 1) / n;
        betas[i] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999);
      }
      betas_ = at::tensor(betas, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
    } else {
      const double start = config.number("beta_start"), end = config.number("beta_end");
      if (schedule == "linear") {
        betas_ = at::tensor(detail::torch_linspace_f32(start, end, n));
      } else if (schedule == "scaled_linear") {
        if (start < 0 || end < 0) config.fail(start < 0 ? "beta_start" : "beta_end", "must be >= 0");
        // float32 linspace between the float64 square roots, then squared in float32.
        at::Tensor roots = at::tensor(detail::torch_linspace_f32(std::pow(start, 0.5), std::pow(end, 0.5), n));
        betas_ = roots * roots;
      } else {  // sigmoid (DDPM only)
        betas_ = at::sigmoid(at::tensor(detail::torch_linspace_f32(-6.0, 6.0, n))) * (end - start) + start;
      }
    }
  }
  const double min_beta = betas_.min().item<double>(), max_beta = betas_.max().item<double>();
  if (!(min_beta >= 0.0) || !(max_beta < 1.0)) {
    std::ostringstream why;
    why << "gives betas in [" << min_beta << ", " << max_beta << "]; betas must lie in [0, 1)";
    config.fail(config.is_null("trained_betas") ? "beta_schedule" : "trained_betas", why.str());
  }
  alphas_ = 1.0 - betas_;
  // torch.cumprod of float32 on the CPU: a float64 running product, rounded at each entry.
  const float* alphas = alphas_.data_ptr<float>();
  alphas_cumprod_values_.resize(static_cast<size_t>(n));
  double product = 1.0;
  for (int64_t i = 0; i < n; ++i) {
    product *= static_cast<double>(alphas[i]);
    alphas_cumprod_values_[static_cast<size_t>(i)] = static_cast<float>(product);
  }
  alphas_cumprod_ = at::tensor(alphas_cumprod_values_);
}

float Scheduler::alpha_cumprod(int64_t t) const {
  if (t < 0 || t >= num_train_timesteps_) {
    throw InvalidArgument(class_name() + ": timestep " + std::to_string(t) + " is outside [0, " +
                          std::to_string(num_train_timesteps_) + ")");
  }
  return alphas_cumprod_values_[static_cast<size_t>(t)];
}

void Scheduler::set_timesteps(int64_t num_inference_steps) {
  if (num_inference_steps < 1 || num_inference_steps > num_train_timesteps_) {
    throw InvalidArgument(class_name() + ": the number of inference steps must be between 1 and " +
                          std::to_string(num_train_timesteps_) + " (num_train_timesteps), got " +
                          std::to_string(num_inference_steps));
  }
  at::Tensor timesteps = compute_timesteps(num_inference_steps);
  num_inference_steps_ = num_inference_steps;
  timesteps_ = timesteps;
  at::Tensor as_double = timesteps_.to(at::kDouble).contiguous();
  timestep_values_.assign(as_double.data_ptr<double>(), as_double.data_ptr<double>() + as_double.numel());
  reset();
}

const at::Tensor& Scheduler::timesteps() const {
  if (!timesteps_.defined()) {
    throw InvalidArgument(class_name() + ": call set_timesteps(num_inference_steps) first");
  }
  return timesteps_;
}

std::vector<double> Scheduler::timestep_values() const {
  timesteps();  // throws before set_timesteps
  return timestep_values_;
}

int64_t Scheduler::index_of(double timestep) const {
  auto it = std::find(timestep_values_.begin(), timestep_values_.end(), timestep);
  if (it == timestep_values_.end()) {
    std::ostringstream message;
    message.precision(17);
    message << class_name() << ": timestep " << timestep << " is not one of the scheduler's timesteps";
    throw InvalidArgument(message.str());
  }
  return it - timestep_values_.begin();
}

int64_t Scheduler::integer_timestep(double timestep) const {
  if (!(timestep == std::floor(timestep)) || timestep < 0 ||
      timestep >= static_cast<double>(num_train_timesteps_)) {
    std::ostringstream message;
    message.precision(17);
    message << class_name() << ": timestep " << timestep << " must be an integer in [0, "
            << num_train_timesteps_ << ")";
    throw InvalidArgument(message.str());
  }
  return static_cast<int64_t>(timestep);
}

StepOutput Scheduler::step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                           at::Generator* generator) {
  GeneratorNoise noise(generator);
  return step(model_output, timestep, sample, noise);
}

StepOutput Scheduler::step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                           NoiseSource& noise) {
  timesteps();  // throws before set_timesteps
  if (!model_output.defined() || !sample.defined()) {
    throw InvalidArgument(class_name() + ".step: model_output and sample must be defined tensors");
  }
  if (!at::isFloatingType(model_output.scalar_type()) || !at::isFloatingType(sample.scalar_type())) {
    throw InvalidArgument(class_name() + ".step: model_output and sample must be floating-point tensors");
  }
  if (model_output.device() != sample.device()) {
    throw InvalidArgument(class_name() + ".step: model_output is on " + model_output.device().str() +
                          " but sample is on " + sample.device().str());
  }
  return do_step(model_output, timestep, sample, noise);
}

at::Tensor Scheduler::guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale,
                                  double timestep, const at::Tensor& sample, NoiseSource& noise) {
  if (!uncond.defined() || !cond.defined() || uncond.sizes() != cond.sizes())
    throw InvalidArgument(class_name() + ".guided_step: uncond and cond must be defined tensors of one shape");
  timesteps();  // throws before set_timesteps
  if (auto fused = fused_guided_step(uncond, cond, guidance_scale, timestep, sample, noise)) return *fused;
  return step(kernels::classifier_free_guidance(uncond, cond, guidance_scale), timestep, sample, noise).prev_sample;
}

// --- factory -------------------------------------------------------------------------------

namespace {

struct SchedulerKind {
  const char* name;
  std::vector<const char*> aliases;  // normalised: lower case, '-' -> '_'
  std::unique_ptr<Scheduler> (*make)(const SchedulerConfig&);
};

const std::vector<SchedulerKind>& scheduler_kinds() {
  static const std::vector<SchedulerKind> kinds = {
      {"ddpm", {"ddpmscheduler"}, &detail::make_ddpm_scheduler},
      {"ddim", {"ddimscheduler"}, &detail::make_ddim_scheduler},
      {"pndm", {"pndmscheduler"}, &detail::make_pndm_scheduler},
      {"euler", {"euler_discrete", "eulerdiscretescheduler", "k_euler"}, &detail::make_euler_scheduler},
      {"euler_ancestral",
       {"euler_a", "euler_ancestral_discrete", "eulerancestraldiscretescheduler", "k_euler_ancestral"},
       &detail::make_euler_ancestral_scheduler},
      {"dpmsolver_multistep",
       {"dpmsolvermultistepscheduler", "dpm_solver_multistep", "dpmsolver++", "dpm++2m", "dpm++_2m"},
       &detail::make_dpmsolver_multistep_scheduler},
  };
  return kinds;
}

const SchedulerKind& find_kind(const std::string& name_or_alias) {
  std::string key;
  for (char ch : name_or_alias) {
    key += ch == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  for (const auto& kind : scheduler_kinds()) {
    if (key == kind.name) return kind;
    for (const char* alias : kind.aliases) {
      if (key == alias) return kind;
    }
  }
  std::string known;
  for (const auto& name : scheduler_names()) known += (known.empty() ? "" : ", ") + name;
  throw InvalidArgument("unknown scheduler '" + name_or_alias + "'; known schedulers: " + known +
                        " (or their diffusers class names)");
}

}  // namespace

std::vector<std::string> scheduler_names() {
  std::vector<std::string> names;
  for (const auto& kind : scheduler_kinds()) names.emplace_back(kind.name);
  return names;
}

std::string canonical_scheduler_name(const std::string& name_or_alias) { return find_kind(name_or_alias).name; }

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config) {
  return find_kind(name).make(config);
}

}  // namespace viscpm::diffusion
