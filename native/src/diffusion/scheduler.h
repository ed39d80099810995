// Noise schedulers of the paint denoising loop, with diffusers v0.15.0 semantics
// (spec: schedulers.md). VisCPM-Paint uses DDPM; DDIM, PNDM (PLMS), Euler, Euler ancestral
// and DPM-Solver++ multistep are the usual alternatives. Every class is built from the
// same `scheduler/scheduler_config.json`: each takes the keys it knows, keeps its own
// defaults for the rest and lists the others as ignored, as `Class.from_config` does.
//
// Usage (one scheduler object per generation: schedulers with a history are stateful):
//   auto s = make_scheduler("ddpm", SchedulerConfig::from_file(dir / "scheduler_config.json"));
//   s->set_timesteps(50);
//   x = noise * s->init_noise_sigma();
//   for (double t : s->timestep_values()) {
//     eps = unet(s->scale_model_input(x, t), t);
//     x = s->step(eps, t, x, &generator).prev_sample;
//   }
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/Generator.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace viscpm::diffusion {

using ordered_json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------
// Random draws. The reference draws every scheduler noise with
// `randn(model_output.shape, generator, dtype=model_output.dtype)`; with a CPU generator the
// tensor is drawn on the CPU and then moved to the sample's device. A NoiseSource lets the
// caller replace or observe those draws (golden tests inject recorded noise).
class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // A standard-normal tensor of `shape` and `dtype` on `device`.
  virtual at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) = 0;
};

// Draws from a LibTorch generator exactly as diffusers' randn_tensor: on the generator's
// device when it matches the target's device type, else on the CPU (CPU generator) and moved.
// A null or undefined generator uses the default generator of the target device.
class GeneratorNoise final : public NoiseSource {
 public:
  explicit GeneratorNoise(at::Generator* generator) : generator_(generator) {}
  at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) override;

 private:
  at::Generator* generator_;
};

// Returns the given tensors in order (moved to the requested device/dtype); InvalidArgument
// when they run out or a shape does not match the draw asked for.
class ReplayNoise final : public NoiseSource {
 public:
  explicit ReplayNoise(std::vector<at::Tensor> draws) : draws_(std::move(draws)) {}
  at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) override;
  size_t used() const { return next_; }

 private:
  std::vector<at::Tensor> draws_;
  size_t next_ = 0;
};

// Forwards to another source and keeps every draw (in draw order).
class RecordingNoise final : public NoiseSource {
 public:
  explicit RecordingNoise(NoiseSource& inner) : inner_(inner) {}
  at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype, at::Device device) override;
  const std::vector<at::Tensor>& draws() const { return draws_; }

 private:
  NoiseSource& inner_;
  std::vector<at::Tensor> draws_;
};

// A CPU generator seeded like `torch.Generator().manual_seed(seed)`.
at::Generator make_cpu_generator(uint64_t seed);

// ---------------------------------------------------------------------------------------
// The scheduler_config.json keys (any diffusers scheduler config; unknown keys are fine).
class SchedulerConfig {
 public:
  SchedulerConfig() : values_(ordered_json::object()) {}  // every class keeps its defaults
  // NotFound when the file is missing, FormatError when it is not a JSON object.
  static SchedulerConfig from_file(const std::filesystem::path& path);
  // InvalidArgument when `values` is not a JSON object.
  static SchedulerConfig from_json(const ordered_json& values);

  // The keys as given, in file order (including "_class_name", "_diffusers_version").
  const ordered_json& values() const { return values_; }
  // "_class_name" of the file ("" when absent): informative only, make_scheduler decides.
  std::string class_name() const;
  // A copy with `key` set, like `Class.from_config(config, key=value)`.
  SchedulerConfig with(const std::string& key, const ordered_json& value) const;

 private:
  ordered_json values_;
};

// Per-call options of the reference `step` signatures, fixed for a scheduler's lifetime.
struct StepOptions {
  double eta = 0.0;                        // DDIM: 0 = deterministic DDIM, 1 = DDPM-like
  bool use_clipped_model_output = false;   // DDIM
  double s_churn = 0.0;                    // Euler discrete (Karras et al. stochasticity)
  double s_tmin = 0.0;
  double s_tmax = std::numeric_limits<double>::infinity();
  double s_noise = 1.0;
};

struct StepOutput {
  at::Tensor prev_sample;                          // the next x (same dtype/device as the sample)
  std::optional<at::Tensor> pred_original_sample;  // x0 estimate, for classes that return it
};

// ---------------------------------------------------------------------------------------
// A scheduler. Tables (betas, ᾱ, sigmas) are float32 CPU tensors resolved at construction /
// set_timesteps; step() works on tensors of any floating dtype on any device (scalars are
// applied as float32 numbers, as the reference's 0-d tensors). Not thread-safe: one object
// per generation (construction is cheap; make_scheduler again for a parallel run).
class Scheduler {
 public:
  virtual ~Scheduler() = default;

  virtual std::string name() const = 0;        // canonical short name ("ddpm", ...)
  virtual std::string class_name() const = 0;  // diffusers class ("DDPMScheduler", ...)

  // Computes the inference timesteps and clears the step history. InvalidArgument unless
  // 1 <= n <= num_train_timesteps.
  void set_timesteps(int64_t num_inference_steps);
  bool has_timesteps() const { return timesteps_.defined(); }
  // CPU tensor in the reference's dtype (int64; float64 for the Euler classes). One entry per
  // model evaluation (PNDM repeats one timestep, DPM-Solver drops duplicates).
  const at::Tensor& timesteps() const;
  std::vector<double> timestep_values() const;
  int64_t num_train_timesteps() const { return num_train_timesteps_; }

  // Multiplier of the initial standard-normal latents.
  virtual double init_noise_sigma() const { return 1.0; }
  // The UNet input for timestep `t` (identity except for the Euler classes).
  virtual at::Tensor scale_model_input(const at::Tensor& sample, double timestep) const { return sample; }

  // One denoising step at timestep `t` (one of timesteps()). The generator form draws as the
  // reference does with that generator (nullptr: the sample device's default generator).
  StepOutput step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                  at::Generator* generator = nullptr);
  StepOutput step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                  NoiseSource& noise);

  // One step with classifier-free guidance, model output = uncond + scale·(cond - uncond):
  // the prev_sample of step(kernels::classifier_free_guidance(...)). A scheduler with a
  // fused kernel for the pair (DDPM in the reference's configuration) runs that instead.
  at::Tensor guided_step(const at::Tensor& uncond, const at::Tensor& cond, double guidance_scale, double timestep,
                         const at::Tensor& sample, NoiseSource& noise);

  // Forgets the multistep history (PNDM, DPM-Solver) for a new run with the same timesteps.
  virtual void reset() {}

  void set_step_options(const StepOptions& options) { step_options_ = options; }
  const StepOptions& step_options() const { return step_options_; }

  // Tables: float32 CPU tensors of num_train_timesteps entries.
  const at::Tensor& betas() const { return betas_; }
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  // Inference sigmas (timesteps + 1 entries, last 0) for the classes that have them.
  virtual std::optional<at::Tensor> sigmas() const { return std::nullopt; }

  // The constructor parameters in force, in diffusers' signature order, and the keys of the
  // config the class does not take (file order, "_"-prefixed keys left out).
  const ordered_json& effective_config() const { return effective_config_; }
  const std::vector<std::string>& ignored_config_keys() const { return ignored_config_keys_; }

 protected:
  Scheduler() = default;
  // Fills betas/alphas/alphas_cumprod from the effective config (beta_schedule, ...).
  void init_noise_schedule(bool allow_sigmoid);
  float alpha_cumprod(int64_t t) const;  // InvalidArgument when t is outside [0, T)

  virtual at::Tensor compute_timesteps(int64_t num_inference_steps) = 0;
  // The fused form of guided_step when this scheduler's configuration has one (same draws,
  // same result); nullopt: combine, then do_step.
  virtual std::optional<at::Tensor> fused_guided_step(const at::Tensor& uncond, const at::Tensor& cond,
                                                      double guidance_scale, double timestep,
                                                      const at::Tensor& sample, NoiseSource& noise) {
    return std::nullopt;
  }
  virtual StepOutput do_step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                             NoiseSource& noise) = 0;
  // Position of `timestep` in timesteps() (InvalidArgument when absent).
  int64_t index_of(double timestep) const;
  // `timestep` as an integer training step (InvalidArgument when fractional or out of range).
  int64_t integer_timestep(double timestep) const;

  ordered_json effective_config_;
  std::vector<std::string> ignored_config_keys_;
  int64_t num_train_timesteps_ = 1000;
  int64_t num_inference_steps_ = 0;
  at::Tensor betas_, alphas_, alphas_cumprod_;
  std::vector<float> alphas_cumprod_values_;
  at::Tensor timesteps_;
  std::vector<double> timestep_values_;
  StepOptions step_options_;
};

// Builds a scheduler by name from a config. Names (case-insensitive, '-' = '_'):
// ddpm, ddim, pndm, euler, euler_ancestral, dpmsolver_multistep, plus aliases such as the
// diffusers class names (DDPMScheduler, ...), "euler_discrete", "euler_a", "dpm++2m".
// InvalidArgument for an unknown name or a bad config value; Unsupported for a valid
// diffusers option this runtime does not implement.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config = {});
// Canonical names, in a stable order.
std::vector<std::string> scheduler_names();
// Canonical name for a name or alias (InvalidArgument when unknown).
std::string canonical_scheduler_name(const std::string& name_or_alias);

}  // namespace viscpm::diffusion
