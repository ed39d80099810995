// Noise schedulers: the golden "scheduler" cases, the worked numbers of schedulers.md, RNG
// stream behaviour (which steps draw, determinism) and typed errors for bad input.
#include "test_support.h"

#include "common/error.h"
#include "diffusion/scheduler.h"

#include <c10/core/InferenceMode.h>
#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/full.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/cos.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace {

using namespace viscpm::diffusion;
using viscpm::FormatError;
using viscpm::InvalidArgument;
using viscpm::NotFound;
using viscpm::Unsupported;

// The SD 2.1-base scheduler config of the fixtures (same values as the hub file).
const SchedulerConfig& sd_config() {
  static const SchedulerConfig config = SchedulerConfig::from_file(
      viscpm::testing::fixtures_dir() / "models/paint/stabilityai/stable-diffusion-2-1-base/scheduler/scheduler_config.json");
  return config;
}

std::unique_ptr<Scheduler> sd(const std::string& name, int64_t steps = 50) {
  auto s = make_scheduler(name, sd_config());
  s->set_timesteps(steps);
  return s;
}

struct DenoiseRun {
  std::vector<at::Tensor> samples;  // prev_sample of every step
  size_t draws = 0;
};

// Runs every timestep with model outputs that depend on the step (a fixed "fake UNet").
DenoiseRun run_all(Scheduler& s, uint64_t seed, const at::Tensor& x0) {
  c10::InferenceMode guard;
  at::Generator gen = make_cpu_generator(seed);
  GeneratorNoise source(&gen);
  RecordingNoise noise(source);
  DenoiseRun run;
  at::Tensor x = x0 * s.init_noise_sigma();
  for (double t : s.timestep_values()) {
    at::Tensor eps = at::sin(s.scale_model_input(x, t) * 3 + t / 1000.0);
    x = s.step(eps, t, x, noise).prev_sample;
    run.samples.push_back(x);
  }
  run.draws = noise.draws().size();
  return run;
}

at::Tensor latent() {
  at::Generator gen = make_cpu_generator(7);
  return at::randn({1, 4, 8, 8}, gen, at::TensorOptions().dtype(at::kFloat));
}

double value(const at::Tensor& t, int64_t i) { return t[i].item<double>(); }

// ------------------------------------------------------------------------------------------

TEST(DiffusionScheduler, GoldenCasesPass) {
  EXPECT_GE(viscpm::testing::expect_kind_passes("scheduler"), 1);
}

TEST(DiffusionScheduler, NamesAndAliases) {
  EXPECT_EQ(scheduler_names(), (std::vector<std::string>{"ddpm", "ddim", "pndm", "euler", "euler_ancestral",
                                                         "dpmsolver_multistep"}));
  EXPECT_EQ(canonical_scheduler_name("DDPMScheduler"), "ddpm");
  EXPECT_EQ(canonical_scheduler_name("EulerDiscreteScheduler"), "euler");
  EXPECT_EQ(canonical_scheduler_name("EulerAncestralDiscreteScheduler"), "euler_ancestral");
  EXPECT_EQ(canonical_scheduler_name("euler-a"), "euler_ancestral");
  EXPECT_EQ(canonical_scheduler_name("DPMSolverMultistepScheduler"), "dpmsolver_multistep");
  EXPECT_EQ(canonical_scheduler_name("dpm++2m"), "dpmsolver_multistep");
  for (const auto& name : scheduler_names()) {
    auto s = make_scheduler(name, sd_config());
    EXPECT_EQ(s->name(), name);
    EXPECT_EQ(canonical_scheduler_name(s->class_name()), name);
  }
  EXPECT_THROW(make_scheduler("lms", sd_config()), InvalidArgument);
  EXPECT_THROW(make_scheduler("", sd_config()), InvalidArgument);
}

TEST(DiffusionScheduler, AlphasCumprodMatchesSpec) {
  // schedulers.md §2 check values (float32, ±1 ulp of the reference's linspace allowed).
  auto s = make_scheduler("ddpm", sd_config());
  const at::Tensor& a = s->alphas_cumprod();
  ASSERT_EQ(a.numel(), 1000);
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  const std::vector<std::pair<int64_t, double>> checks = {
      {0, 0.999149978}, {1, 0.998296022}, {20, 0.981314301}, {500, 0.276332498}, {980, 0.00584378}, {999, 0.00466009602}};
  for (auto [t, expected] : checks) EXPECT_NEAR(value(a, t), expected, expected * 6e-7) << "t=" << t;
  // Bit patterns of schedulers.md §10 (torch 1.13's float32 linspace reproduced exactly).
  const std::vector<std::pair<int64_t, uint32_t>> bits = {{0, 0x3f7fc84b}, {1, 0x3f7f9054}, {123, 0x3f5d5f0a},
                                                          {333, 0x3f08f343}, {500, 0x3e8d7b74}, {737, 0x3d7f251d},
                                                          {999, 0x3b98b3b8}};
  for (auto [t, pattern] : bits) {
    float v = a[t].item<float>();
    uint32_t got = 0;
    std::memcpy(&got, &v, sizeof got);
    EXPECT_EQ(got, pattern) << "t=" << t;
  }
  EXPECT_NEAR(value(s->betas(), 0), 0.000849999953, 1e-12);
  EXPECT_NEAR(value(s->betas(), 999), 0.0119999992, 1e-10);
}

TEST(DiffusionScheduler, TimestepsFor50Steps) {
  auto ddpm = sd("ddpm");
  ASSERT_EQ(ddpm->timesteps().numel(), 50);
  EXPECT_EQ(ddpm->timesteps().scalar_type(), at::kLong);
  EXPECT_EQ(value(ddpm->timesteps(), 0), 980);
  EXPECT_EQ(value(ddpm->timesteps(), 1), 960);
  EXPECT_EQ(value(ddpm->timesteps(), 49), 0);  // DDPM ignores steps_offset in v0.15.0

  auto ddpm30 = sd("ddpm", 30);
  EXPECT_EQ(value(ddpm30->timesteps(), 0), 957);
  EXPECT_EQ(value(ddpm30->timesteps(), 28), 33);

  auto ddim = sd("ddim");
  EXPECT_EQ(value(ddim->timesteps(), 0), 981);
  EXPECT_EQ(value(ddim->timesteps(), 49), 1);

  auto pndm = sd("pndm");
  ASSERT_EQ(pndm->timesteps().numel(), 51);  // the first interval twice
  EXPECT_EQ(value(pndm->timesteps(), 0), 981);
  EXPECT_EQ(value(pndm->timesteps(), 1), 961);
  EXPECT_EQ(value(pndm->timesteps(), 2), 961);
  EXPECT_EQ(value(pndm->timesteps(), 50), 1);

  for (const char* name : {"euler", "euler_ancestral"}) {
    auto e = sd(name);
    ASSERT_EQ(e->timesteps().numel(), 50);
    EXPECT_EQ(e->timesteps().scalar_type(), at::kDouble);
    EXPECT_EQ(value(e->timesteps(), 0), 999.0);
    EXPECT_NEAR(value(e->timesteps(), 1), 978.612244897959, 1e-9);
    EXPECT_NEAR(value(e->timesteps(), 2), 958.224489795918, 1e-9);
    EXPECT_EQ(value(e->timesteps(), 49), 0.0);
  }

  auto dpm = sd("dpmsolver_multistep");
  ASSERT_EQ(dpm->timesteps().numel(), 50);
  auto dpm_values = dpm->timestep_values();
  EXPECT_EQ(dpm_values[0], 999);
  EXPECT_EQ(dpm_values[1], 979);
  EXPECT_EQ(dpm_values[24], 519);
  EXPECT_EQ(dpm_values[25], 500);  // the one gap of 19 (round half to even)
  EXPECT_EQ(dpm_values[49], 20);

  for (const auto& name : scheduler_names()) {
    auto values = sd(name)->timestep_values();
    for (size_t i = 1; i < values.size(); ++i) {
      if (name == "pndm") {
        EXPECT_LE(values[i], values[i - 1]) << name << " i=" << i;
      } else {
        EXPECT_LT(values[i], values[i - 1]) << name << " i=" << i;
      }
    }
  }
}

TEST(DiffusionScheduler, EulerSigmasAndScaling) {
  for (const char* name : {"euler", "euler_ancestral"}) {
    auto e = sd(name);
    EXPECT_NEAR(e->init_noise_sigma(), 14.6146450, 1e-6);
    auto sigmas = e->sigmas();
    ASSERT_TRUE(sigmas.has_value());
    ASSERT_EQ(sigmas->numel(), 51);
    EXPECT_NEAR(value(*sigmas, 0), 14.6146450, 1e-5);
    EXPECT_NEAR(value(*sigmas, 1), 12.9367771, 1e-5);
    EXPECT_NEAR(value(*sigmas, 2), 11.4916487, 1e-5);
    EXPECT_NEAR(value(*sigmas, 48), 0.139337510, 1e-7);
    EXPECT_NEAR(value(*sigmas, 49), 0.0291675329, 1e-8);
    EXPECT_EQ(value(*sigmas, 50), 0.0);
    at::Tensor one = at::ones({1});
    auto t = e->timestep_values();
    EXPECT_NEAR(e->scale_model_input(one, t[0]).item<double>(), 0.0682648942, 1e-8);
    EXPECT_NEAR(e->scale_model_input(one, t[1]).item<double>(), 0.0770691037, 1e-8);
    EXPECT_NEAR(e->scale_model_input(one, t[2]).item<double>(), 0.0866921023, 1e-8);
  }
  for (const char* name : {"ddpm", "ddim", "pndm", "dpmsolver_multistep"}) {
    auto s = sd(name);
    EXPECT_EQ(s->init_noise_sigma(), 1.0) << name;
    EXPECT_FALSE(s->sigmas().has_value()) << name;
    at::Tensor x = at::randn({2, 3});
    EXPECT_TRUE(s->scale_model_input(x, s->timestep_values()[0]).equal(x)) << name;
  }
}

TEST(DiffusionScheduler, DdpmNoiseStdAndCoefficients) {
  // schedulers.md §3 table: with ε = 0, x = 0 and z = 1 the step returns the noise std.
  c10::InferenceMode guard;
  auto s = sd("ddpm");
  const std::vector<std::pair<size_t, double>> stds = {{0, 0.454155236}, {24, 0.294430226}, {48, 0.0284964088}};
  auto t = s->timestep_values();
  for (auto [i, expected] : stds) {
    ReplayNoise ones({at::ones({1, 4, 2, 2})});
    at::Tensor zero = at::zeros({1, 4, 2, 2});
    at::Tensor out = s->step(zero, t[i], zero, ones).prev_sample;
    EXPECT_NEAR(out.max().item<double>(), expected, 1e-7) << "i=" << i;
    EXPECT_EQ(ones.used(), 1u);
  }
  // Last step: x0 exactly, no draw. ε = 0: x0 = x / sqrt(ᾱ_0).
  ReplayNoise none({});
  at::Tensor x = at::full({1, 4, 2, 2}, 0.5f);
  StepOutput last = s->step(at::zeros_like(x), 0, x, none);
  EXPECT_EQ(none.used(), 0u);
  ASSERT_TRUE(last.pred_original_sample.has_value());
  EXPECT_TRUE(last.prev_sample.allclose(*last.pred_original_sample, 0, 0));
  EXPECT_NEAR(last.prev_sample.max().item<double>(), 0.5 / std::sqrt(0.999149978), 1e-6);
  // Step 48 (t = 20): coefficients 0.954916775 on x0 and 0.0450826548 on x (z = 0).
  ReplayNoise zeros({at::zeros({1, 4, 2, 2})});
  StepOutput mid = s->step(at::zeros_like(x), 20, x, zeros);
  const double x0 = mid.pred_original_sample->max().item<double>();
  EXPECT_NEAR(mid.prev_sample.max().item<double>(), 0.954916775 * x0 + 0.0450826548 * 0.5, 1e-6);
}

TEST(DiffusionScheduler, DrawCountsPerClass) {
  const at::Tensor x = latent();
  // DDPM: one draw per step with t > 0; Euler and Euler-a: one per step; others none.
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"ddpm", 49}, {"ddim", 0}, {"pndm", 0}, {"euler", 50}, {"euler_ancestral", 50}, {"dpmsolver_multistep", 0}};
  for (const auto& [name, draws] : expected) {
    auto s = sd(name);
    DenoiseRun run = run_all(*s, 1, x);
    EXPECT_EQ(run.draws, draws) << name;
    EXPECT_EQ(run.samples.size(), s->timestep_values().size()) << name;
    EXPECT_TRUE(at::isfinite(run.samples.back()).all().item<bool>()) << name;
  }
  auto ddim = sd("ddim");
  StepOptions options;
  options.eta = 1.0;
  ddim->set_step_options(options);
  EXPECT_EQ(run_all(*ddim, 1, x).draws, 50u);
}

TEST(DiffusionScheduler, SameSeedSameResultDifferentSeedDiffers) {
  const at::Tensor x = latent();
  for (const auto& name : scheduler_names()) {
    auto s = sd(name, 20);
    DenoiseRun a = run_all(*s, 11, x);
    s->set_timesteps(20);  // clears the multistep history
    DenoiseRun b = run_all(*s, 11, x);
    s->reset();
    DenoiseRun c = run_all(*s, 12, x);
    EXPECT_TRUE(a.samples.back().equal(b.samples.back())) << name;
    const bool uses_noise = name == "ddpm" || name == "euler_ancestral";
    // Euler draws but does not use the draws (s_churn = 0): the seed does not matter.
    EXPECT_EQ(!a.samples.back().equal(c.samples.back()), uses_noise) << name;
  }
}

TEST(DiffusionScheduler, GeneratorMatchesTorchRandnStream) {
  // DDPM's draws come from the generator in order: the draw of step i equals the i-th
  // randn of a fresh generator with the same seed.
  c10::InferenceMode guard;
  auto s = sd("ddpm", 5);
  at::Generator gen = make_cpu_generator(107);
  GeneratorNoise source(&gen);
  RecordingNoise noise(source);
  at::Tensor x = latent();
  for (double t : s->timestep_values()) x = s->step(at::zeros_like(x), t, x, noise).prev_sample;
  ASSERT_EQ(noise.draws().size(), 4u);
  at::Generator again = make_cpu_generator(107);
  for (const auto& draw : noise.draws()) {
    EXPECT_TRUE(draw.equal(at::randn({1, 4, 8, 8}, again, at::TensorOptions().dtype(at::kFloat))));
  }
}

TEST(DiffusionScheduler, ReducedPrecisionSamplesKeepTheirDtype) {
  // fp16 / bf16 latents: outputs and draws keep the sample's dtype and track the fp32 run.
  c10::InferenceMode guard;
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    for (const auto& name : scheduler_names()) {
      auto low = sd(name, 10), full = sd(name, 10);
      at::Tensor x32 = latent(), x16 = latent().to(dtype);
      at::Generator g32 = make_cpu_generator(4), g16 = make_cpu_generator(4);
      for (double t : full->timestep_values()) {
        at::Tensor eps32 = at::sin(full->scale_model_input(x32, t));
        at::Tensor eps16 = at::sin(low->scale_model_input(x16, t).to(at::kFloat)).to(dtype);
        x32 = full->step(eps32, t, x32, &g32).prev_sample;
        x16 = low->step(eps16, t, x16, &g16).prev_sample;
        ASSERT_EQ(x16.scalar_type(), dtype) << name;
      }
      const bool noisy = name == "ddpm" || name == "euler_ancestral";  // reduced-precision draws differ
      if (!noisy) {
        const double err = (x16.to(at::kFloat) - x32).abs().max().item<double>();
        const double scale = x32.abs().max().item<double>();
        EXPECT_LT(err, (dtype == at::kHalf ? 0.01 : 0.1) * scale) << name << " " << dtype;
      }
      EXPECT_TRUE(at::isfinite(x16).all().item<bool>()) << name;
    }
  }
}

TEST(DiffusionScheduler, EffectiveConfig) {
  auto ddpm = make_scheduler("ddpm", sd_config());
  const auto& c = ddpm->effective_config();
  EXPECT_EQ(c.at("beta_schedule"), "scaled_linear");
  EXPECT_EQ(c.at("clip_sample"), false);
  EXPECT_EQ(c.at("variance_type"), "fixed_small");
  EXPECT_EQ(c.begin().key(), "num_train_timesteps");  // signature order
  EXPECT_EQ(ddpm->ignored_config_keys(), (std::vector<std::string>{"set_alpha_to_one", "skip_prk_steps", "steps_offset"}));

  auto pndm = make_scheduler("pndm", sd_config());
  EXPECT_EQ(pndm->ignored_config_keys(), (std::vector<std::string>{"clip_sample"}));

  // Without a config every class keeps its own defaults.
  auto plain = make_scheduler("ddpm");
  EXPECT_EQ(plain->effective_config().at("beta_schedule"), "linear");
  EXPECT_EQ(plain->effective_config().at("clip_sample"), true);
  EXPECT_TRUE(plain->ignored_config_keys().empty());

  // DPM-Solver records the substitutes v0.15.0 registers for related solver names.
  auto dpm = make_scheduler("dpmsolver_multistep", sd_config().with("algorithm_type", "deis").with("solver_type", "bh2"));
  EXPECT_EQ(dpm->effective_config().at("algorithm_type"), "dpmsolver++");
  EXPECT_EQ(dpm->effective_config().at("solver_type"), "midpoint");
}

TEST(DiffusionScheduler, OtherOptionsRun) {
  // Non-default options of the reference classes build and produce finite samples.
  const at::Tensor x = latent();
  const std::vector<std::pair<std::string, SchedulerConfig>> variants = {
      {"ddpm", sd_config().with("prediction_type", "v_prediction").with("clip_sample", true)},
      {"ddpm", sd_config().with("beta_schedule", "squaredcos_cap_v2").with("variance_type", "fixed_large")},
      {"ddpm", sd_config().with("beta_schedule", "sigmoid").with("thresholding", true)},
      {"ddim", sd_config().with("prediction_type", "sample").with("set_alpha_to_one", true)},
      {"pndm", sd_config().with("skip_prk_steps", false)},
      {"euler", sd_config().with("use_karras_sigmas", true)},
      {"euler", sd_config().with("interpolation_type", "log_linear").with("prediction_type", "v_prediction")},
      {"dpmsolver_multistep", sd_config().with("solver_order", 3).with("algorithm_type", "dpmsolver")},
      {"dpmsolver_multistep", sd_config().with("use_karras_sigmas", true).with("solver_type", "heun")},
  };
  for (const auto& [name, config] : variants) {
    auto s = make_scheduler(name, config);
    s->set_timesteps(10);
    DenoiseRun run = run_all(*s, 3, x);
    EXPECT_TRUE(at::isfinite(run.samples.back()).all().item<bool>()) << name << " " << config.values().dump();
  }
  auto prk = make_scheduler("pndm", sd_config().with("skip_prk_steps", false));
  prk->set_timesteps(10);
  EXPECT_EQ(prk->timesteps().numel(), 12 + 7);  // 12 Runge-Kutta evaluations, then PLMS
}

TEST(DiffusionScheduler, BadStepsAreInvalidArgument) {
  for (const auto& name : scheduler_names()) {
    auto s = make_scheduler(name, sd_config());
    EXPECT_THROW(s->set_timesteps(0), InvalidArgument) << name;
    EXPECT_THROW(s->set_timesteps(-3), InvalidArgument) << name;
    EXPECT_THROW(s->set_timesteps(1001), InvalidArgument) << name;
    at::Tensor x = at::zeros({1, 4, 2, 2});
    EXPECT_THROW(s->step(x, 0, x), InvalidArgument) << name << ": step before set_timesteps";
    EXPECT_THROW(s->timesteps(), InvalidArgument) << name;
    s->set_timesteps(1);
    const double t = s->timestep_values()[0];
    EXPECT_THROW(s->step(at::zeros({1, 3, 2, 2}), t, x), InvalidArgument) << name << ": shape mismatch";
    EXPECT_THROW(s->step(at::zeros({1, 4, 2, 2}, at::kLong), t, x), InvalidArgument) << name << ": integer tensor";
  }
  auto euler = sd("euler", 10);
  at::Tensor x = at::zeros({1, 4, 2, 2});
  EXPECT_THROW(euler->scale_model_input(x, 500.5), InvalidArgument);
  EXPECT_THROW(euler->step(x, 500.5, x), InvalidArgument);
  auto ddpm = sd("ddpm", 10);
  EXPECT_THROW(ddpm->step(x, 1000, x), InvalidArgument);
  EXPECT_THROW(ddpm->step(x, 12.5, x), InvalidArgument);
  ReplayNoise empty({});
  EXPECT_THROW(ddpm->step(x, 900, x, empty), InvalidArgument);  // recorded noise exhausted
  ReplayNoise wrong({at::zeros({2, 2})});
  EXPECT_THROW(ddpm->step(x, 900, x, wrong), InvalidArgument);
}

TEST(DiffusionScheduler, BadConfigValuesAreInvalidArgument) {
  const std::vector<std::pair<std::string, ordered_json>> bad = {
      {"num_train_timesteps", 0},       {"num_train_timesteps", "1000"}, {"num_train_timesteps", 10.5},
      {"beta_schedule", "cosine"},      {"beta_start", "small"},         {"beta_end", nullptr},
      {"prediction_type", "noise"},     {"clip_sample", "yes"},          {"trained_betas", ordered_json::array({0.1, 0.2})},
      {"variance_type", "huge"},        {"thresholding", 1},             {"dynamic_thresholding_ratio", 2.0},
  };
  for (const auto& [key, v] : bad) {
    EXPECT_THROW(make_scheduler("ddpm", sd_config().with(key, v)), InvalidArgument) << key << "=" << v.dump();
  }
  // Linear betas past 1 are rejected rather than producing NaN.
  EXPECT_THROW(make_scheduler("ddim", sd_config().with("beta_schedule", "linear").with("beta_end", 1.5)), InvalidArgument);
  EXPECT_THROW(make_scheduler("ddim", sd_config().with("steps_offset", -1)), InvalidArgument);
  EXPECT_THROW(make_scheduler("pndm", sd_config().with("skip_prk_steps", "true")), InvalidArgument);
  EXPECT_THROW(make_scheduler("euler", sd_config().with("interpolation_type", "cubic")), InvalidArgument);
  EXPECT_THROW(make_scheduler("dpmsolver_multistep", sd_config().with("solver_order", 4)), InvalidArgument);
  EXPECT_THROW(make_scheduler("dpmsolver_multistep", sd_config().with("algorithm_type", "sde")), InvalidArgument);
  EXPECT_THROW(make_scheduler("ddim", sd_config().with("beta_schedule", "sigmoid")), InvalidArgument);  // DDPM only
  EXPECT_THROW(SchedulerConfig::from_json(ordered_json::array()), InvalidArgument);
  // Valid diffusers options that v0.15.0 itself cannot run.
  EXPECT_THROW(make_scheduler("ddpm", sd_config().with("variance_type", "fixed_large_log")), Unsupported);
  EXPECT_THROW(make_scheduler("euler_ancestral", sd_config().with("prediction_type", "sample")), Unsupported);
  auto prk = make_scheduler("pndm", sd_config().with("skip_prk_steps", false));
  EXPECT_THROW(prk->set_timesteps(3), InvalidArgument);
  // A trained_betas list of the right length replaces the schedule.
  std::vector<double> betas(1000, 0.01);
  auto trained = make_scheduler("ddpm", sd_config().with("trained_betas", betas));
  EXPECT_NEAR(trained->alphas_cumprod()[1].item<double>(), 0.99 * 0.99, 1e-6);
}

TEST(DiffusionScheduler, ConfigFileErrors) {
  EXPECT_THROW(SchedulerConfig::from_file("/nonexistent/scheduler_config.json"), NotFound);
  auto path = std::filesystem::temp_directory_path() / ("viscpm_scheduler_test_config_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << "[1, 2]";
  }
  EXPECT_THROW(SchedulerConfig::from_file(path), FormatError);
  {
    std::ofstream out(path);
    out << "{\"beta_start\": ";
  }
  EXPECT_THROW(SchedulerConfig::from_file(path), FormatError);
  std::filesystem::remove(path);
  EXPECT_EQ(sd_config().class_name(), "PNDMScheduler");
}

TEST(DiffusionScheduler, CudaSampleWithCpuGeneratorMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  c10::InferenceMode guard;
  for (const char* name : {"ddpm", "euler_ancestral", "dpmsolver_multistep"}) {
    auto cpu = sd(name, 10), cuda = sd(name, 10);
    at::Generator g1 = make_cpu_generator(5), g2 = make_cpu_generator(5);
    at::Tensor x = latent(), y = latent().cuda();
    for (double t : cpu->timestep_values()) {
      at::Tensor eps = at::sin(x);
      x = cpu->step(eps, t, x, &g1).prev_sample;
      y = cuda->step(at::sin(y), t, y, &g2).prev_sample;
    }
    EXPECT_TRUE(y.is_cuda());
    EXPECT_TRUE(y.cpu().allclose(x, 1e-4, 1e-5)) << name;
  }
}

}  // namespace

// guided_step (DDPM: the fused kernel) gives the bytes of combine-then-step, with the same draws.
TEST(DiffusionScheduler, GuidedStepEqualsCombineThenStep) {
  const at::Tensor x0 = latent();
  for (const auto& name : scheduler_names()) {
    auto fused = sd(name, 10), plain = sd(name, 10);
    c10::InferenceMode guard;
    at::Generator g1 = make_cpu_generator(5), g2 = make_cpu_generator(5);
    GeneratorNoise n1(&g1), n2(&g2);
    at::Tensor a = x0 * fused->init_noise_sigma(), b = a.clone();
    for (double t : fused->timestep_values()) {
      const at::Tensor uncond = at::sin(fused->scale_model_input(a, t) * 3 + t / 1000.0);
      const at::Tensor cond = at::cos(fused->scale_model_input(a, t) * 2);
      a = fused->guided_step(uncond, cond, 7.5, t, a, n1);
      const at::Tensor guided = uncond + 7.5 * (cond - uncond);
      b = plain->step(guided, t, b, n2).prev_sample;
      ASSERT_TRUE(a.equal(b)) << name << " at t=" << t;
    }
  }
  auto s = sd("ddpm", 10);
  at::Generator g = make_cpu_generator(1);
  GeneratorNoise noise(&g);
  EXPECT_THROW(s->guided_step(latent(), at::Tensor(), 7.5, s->timestep_values()[0], latent(), noise),
               InvalidArgument);
}
