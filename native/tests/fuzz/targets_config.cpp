// Model config target: every input is written to one config.json and read by each of the
// five config readers (CPM-Bee, BEiT-3, UNet, VAE, scheduler); schedulers are then built
// under every name and stepped a few times.
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include "cpmbee/config.h"
#include "diffusion/scheduler.h"
#include "diffusion/unet_config.h"
#include "diffusion/vae_config.h"
#include "mutator.h"
#include "targets.h"
#include "vision/beit3_config.h"
#include "vision/preprocess.h"

namespace viscpm::fuzz {
namespace {

std::filesystem::path g_config_file;

void init_config(const Context& context) { g_config_file = scratch_file(context, "model_config", ".json"); }

std::vector<Bytes> config_seeds(const Context& context) {
  std::vector<Bytes> out;
  const std::string sd = "models/paint/stabilityai/stable-diffusion-2-1-base/";
  for (const std::string& f : std::vector<std::string>{"models/chat/cpm-bee.json", "models/chat/beit3.json", "models/paint/cpm-bee.json",
                              sd + "unet/config.json", sd + "vae/config.json", sd + "scheduler/scheduler_config.json"})
    out.push_back(read_bytes(fixture(context, f)));
  // The released models' configs kept in the repository.
  for (const char* f : {"models/beit3-large.json", "models/cpm-bee-10b.json", "models/sd21-base/unet/config.json",
                        "models/sd21-base/vae/config.json", "models/sd21-base/scheduler/scheduler_config.json"}) {
    auto path = context.source_dir / f;
    if (std::filesystem::exists(path)) out.push_back(read_bytes(path));
  }
  // Scheduler options the fixture does not use.
  out.push_back(R"({"num_train_timesteps": 10, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction",
                    "timestep_spacing": "trailing", "solver_order": 3, "use_karras_sigmas": true, "steps_offset": 2,
                    "trained_betas": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]})");
  out.push_back(R"({"mask_modules": [[false, false], [false, true]], "num_layers": 2, "vocab_size": 8, "dim_model": 8,
                    "num_heads": 2, "dim_head": 4, "dim_ff": 16, "half": false})");
  return out;
}

std::vector<Bytes> config_dictionary() {
  return {"{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "0", "-1", "0.0", "1e309", "-1e309",
          "18446744073709551615", "9223372036854775807", "-9223372036854775808", "2147483648", "1e15", "[]", "{}",
          "\"_class_name\":", "\"block_out_channels\":", "\"attention_head_dim\":", "\"num_attention_heads\":",
          "\"norm_num_groups\":", "\"down_block_types\":", "\"up_block_types\":", "\"CrossAttnDownBlock2D\"",
          "\"DownBlock2D\"", "\"UpBlock2D\"", "\"CrossAttnUpBlock2D\"", "\"UpDecoderBlock2D\"",
          "\"num_train_timesteps\":", "\"trained_betas\":", "\"beta_schedule\":", "\"squaredcos_cap_v2\"",
          "\"scaled_linear\"", "\"sigmoid\"", "\"timestep_spacing\":", "\"leading\"", "\"trailing\"", "\"linspace\"",
          "\"steps_offset\":", "\"solver_order\":", "\"prediction_type\":", "\"v_prediction\"", "\"sample\"",
          "\"img_size\":", "\"patch_size\":", "\"query_num\":", "\"image_std\":", "\"dim_model\":", "\"num_heads\":",
          "\"mask_modules\":", "\"position_bias_num_buckets\":", "\"eps\":"};
}

// A model output / sample pair for stepping a scheduler.
struct Latents {
  at::Tensor output = at::ones({1, 4, 4, 4});
  at::Tensor sample = at::zeros({1, 4, 4, 4});
};

}  // namespace

int fuzz_model_config(const uint8_t* data, size_t size) {
  write_bytes(g_config_file, data, size);
  const uint64_t h = fnv1a(data, size);
  step([&] {
    auto c = viscpm::cpmbee::CpmBeeConfig::load(g_config_file);
    (void)c.parameter_count();
    // A validated config must survive its own serialisation.
    (void)viscpm::cpmbee::CpmBeeConfig::from_json(nlohmann::json(c.to_json()), "round trip");
  });
  step([&] {
    auto c = viscpm::vision::Beit3Config::load(g_config_file);
    (void)viscpm::vision::Beit3Config::from_json(nlohmann::json(c.to_json()), "round trip");
    viscpm::vision::PreprocessConfig::from(c).validate();
  });
  step([&] { (void)viscpm::diffusion::UnetConfig::from_file(g_config_file); });
  step([&] { (void)viscpm::diffusion::VaeConfig::from_file(g_config_file); });
  std::optional<viscpm::diffusion::SchedulerConfig> config;
  step([&] { config = viscpm::diffusion::SchedulerConfig::from_file(g_config_file); });
  if (!config) return 0;
  static const Latents latents;
  for (const auto& name : viscpm::diffusion::scheduler_names()) {
    step([&] {
      auto s = viscpm::diffusion::make_scheduler(name, *config);
      (void)s->effective_config().dump();
      // Mostly valid step counts, sometimes past num_train_timesteps.
      int64_t steps = (h & 7) == 0 ? static_cast<int64_t>(h >> 8) % 2000 : 1 + static_cast<int64_t>(h >> 8) % 50;
      s->set_timesteps(steps);
      at::Generator generator = viscpm::diffusion::make_cpu_generator(h);
      auto timesteps = s->timestep_values();
      at::Tensor sample = latents.sample * s->init_noise_sigma();
      for (size_t i = 0; i < timesteps.size() && i < 3; ++i) {
        (void)s->scale_model_input(sample, timesteps[i]);  // what the UNet would see
        sample = s->step(latents.output, timesteps[i], sample, &generator).prev_sample;
      }
    });
  }
  return 0;
}

void add_config_targets(std::vector<Target>& out) {
  out.push_back({"model_config",
                 "model configs: cpm-bee.json, beit3.json, unet/vae config.json, scheduler_config.json (each input "
                 "through all five readers; schedulers built and stepped)",
                 init_config, fuzz_model_config, config_seeds, nullptr, 16u << 10, config_dictionary});
}

}  // namespace viscpm::fuzz
