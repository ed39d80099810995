// Needs CPM-Bee (cpmbee), and the chat demo's vocabulary generator (generate) so that both
// demo models share one vocabulary.

#include "testkit/demo/demo_paint.h"

#include "common/error.h"
#include "io/text.h"

#include <algorithm>
#include "cpmbee/model.h"
#include "diffusion/trans_block.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "testkit/demo/demo_chat.h"
#include "io/tensor_source.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/empty.h>

#include <cmath>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace viscpm::testkit {

using namespace viscpm::diffusion;
namespace {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Random weights that keep activations O(1): kernels/matrices ~ N(0, 1/fan_in), norm scales
// ~ 1, small biases.
at::Tensor random_parameter(const std::string& name, at::IntArrayRef shape, at::Generator& gen) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  if (ends_with(name, "bias")) return t.normal_(0.0, 0.02, gen);
  if (t.dim() == 1) return t.normal_(1.0, 0.02, gen);
  const int64_t fan_in = t.numel() / std::max<int64_t>(1, t.size(0));
  return t.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(fan_in)), gen);
}

NamedTensors random_module_weights(const viscpm::nn::Module& module, const std::string& prefix, at::Generator& gen) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    out.emplace_back(prefix + item.key(), random_parameter(item.key(), item.value().sizes(), gen));
  return out;
}

// AutoencoderKL encoder + quant_conv keys (vae.md §4.2): not used by text-to-image, but the hub
// file carries them, so the demo file does too.
NamedTensors random_vae_encoder(const VaeConfig& c, at::Generator& gen) {
  NamedTensors out;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    out.emplace_back(name, random_parameter(name, shape, gen));
  };
  auto conv = [&](const std::string& p, int64_t o, int64_t i, int64_t k) {
    add(p + ".weight", {o, i, k, k});
    add(p + ".bias", {o});
  };
  auto norm = [&](const std::string& p, int64_t ch) {
    add(p + ".weight", {ch});
    add(p + ".bias", {ch});
  };
  auto resnet = [&](const std::string& p, int64_t in, int64_t o) {
    norm(p + ".norm1", in);
    conv(p + ".conv1", o, in, 3);
    norm(p + ".norm2", o);
    conv(p + ".conv2", o, o, 3);
    if (in != o) conv(p + ".conv_shortcut", o, in, 1);
  };
  const auto& ch = c.block_out_channels;
  conv("encoder.conv_in", ch[0], c.in_channels, 3);
  int64_t out_ch = ch[0];
  for (size_t i = 0; i < ch.size(); ++i) {
    int64_t in_ch = out_ch;
    out_ch = ch[i];
    const std::string block = "encoder.down_blocks." + std::to_string(i);
    for (int64_t j = 0; j < c.layers_per_block; ++j) {
      resnet(block + ".resnets." + std::to_string(j), in_ch, out_ch);
      in_ch = out_ch;
    }
    if (i + 1 < ch.size()) conv(block + ".downsamplers.0.conv", out_ch, out_ch, 3);
  }
  const int64_t mid = ch.back();
  resnet("encoder.mid_block.resnets.0", mid, mid);
  const std::string attn = "encoder.mid_block.attentions.0";
  norm(attn + ".group_norm", mid);
  for (const char* proj : {"query", "key", "value", "proj_attn"}) {
    add(attn + "." + proj + ".weight", {mid, mid});
    add(attn + "." + proj + ".bias", {mid});
  }
  resnet("encoder.mid_block.resnets.1", mid, mid);
  norm("encoder.conv_norm_out", mid);
  conv("encoder.conv_out", 2 * c.latent_channels, mid, 3);
  return out;
}

NamedTensors stored_as(NamedTensors tensors, at::ScalarType dtype) {
  for (auto& [name, t] : tensors) t = t.to(dtype);
  return tensors;
}

void append(NamedTensors& to, NamedTensors from) {
  for (auto& item : from) to.push_back(std::move(item));
}

}  // namespace

cpmbee::CpmBeeConfig demo_paint_cpm_bee_config(int64_t vocab_size) {
  cpmbee::CpmBeeConfig c = demo_cpm_bee_config(vocab_size);  // the chat demo's sizes
  c.half = true;  // the released config: float16 on CUDA, float32 on the CPU
  return c;
}

ordered_json demo_paint_unet_config() {
  return {{"_class_name", "UNet2DConditionModel"},
          {"_diffusers_version", "0.10.0.dev0"},
          {"act_fn", "silu"},
          {"attention_head_dim", {2, 2, 4, 4}},
          {"block_out_channels", {32, 32, 64, 64}},
          {"center_input_sample", false},
          {"cross_attention_dim", 32},
          {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
          {"downsample_padding", 1},
          {"dual_cross_attention", false},
          {"flip_sin_to_cos", true},
          {"freq_shift", 0},
          {"in_channels", 4},
          {"layers_per_block", 2},
          {"mid_block_scale_factor", 1},
          {"norm_eps", 1e-05},
          {"norm_num_groups", 8},
          {"num_class_embeds", nullptr},
          {"only_cross_attention", false},
          {"out_channels", 4},
          {"sample_size", 8},
          {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
          {"use_linear_projection", true}};
}

ordered_json demo_paint_vae_config() {
  return {{"_class_name", "AutoencoderKL"},
          {"_diffusers_version", "0.10.0.dev0"},
          {"act_fn", "silu"},
          {"block_out_channels", {16, 32, 32, 32}},
          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
          {"in_channels", 3},
          {"latent_channels", 4},
          {"layers_per_block", 2},
          {"norm_num_groups", 8},
          {"out_channels", 3},
          {"sample_size", 64},
          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}}};
}

ordered_json demo_paint_scheduler_config() {
  return {{"_class_name", "PNDMScheduler"},
          {"_diffusers_version", "0.10.0.dev0"},
          {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"},
          {"beta_start", 0.00085},
          {"clip_sample", false},
          {"num_train_timesteps", 1000},
          {"prediction_type", "epsilon"},
          {"set_alpha_to_one", false},
          {"skip_prk_steps", true},
          {"steps_offset", 1},
          {"trained_betas", nullptr}};
}

paint::PaintModelPaths write_demo_paint_model(const fs::path& dir, const DemoPaintOptions& options) {
  for (at::ScalarType d : {options.llm_dtype, options.diffusion_dtype}) {
    if (d != at::kFloat && d != at::kHalf && d != at::kBFloat16)
      throw InvalidArgument(std::string("demo paint model dtypes must be float32, float16 or bfloat16, got ") +
                            c10::toString(d));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create " + dir.string() + ": " + ec.message());
  c10::InferenceMode guard;

  const std::string vocabulary = testkit::demo_vocabulary_text();
  const int64_t vocab_size = static_cast<int64_t>(std::count(vocabulary.begin(), vocabulary.end(), '\n'));
  cpmbee::CpmBeeConfig llm_config = demo_paint_cpm_bee_config(vocab_size);
  if (options.cpm_bee_config) {
    llm_config = *options.cpm_bee_config;
    llm_config.vocab_size = vocab_size;
  }
  const ordered_json unet_json = options.unet_config.value_or(demo_paint_unet_config());
  const ordered_json vae_json = options.vae_config.value_or(demo_paint_vae_config());
  const UnetConfig unet_config = UnetConfig::from_json(nlohmann::json::parse(unet_json.dump()), "demo unet config");
  const VaeConfig vae_config = VaeConfig::from_json(nlohmann::json::parse(vae_json.dump()), "demo vae config");

  // The modules fix the key names and shapes; the values are drawn here.
  at::Generator gen = at::detail::createCPUGenerator(options.seed + 1);
  const auto cpu_float = at::TensorOptions().dtype(at::kFloat);
  cpmbee::CpmBee llm(llm_config, at::kFloat, at::kCPU);
  llm->init_random_(options.seed, 1.0);
  UnetOptions unet_options;
  UnetModel unet(unet_config, unet_options);
  TransBlock trans_block(llm_config.dim_model, unet_config.cross_attention_dim, cpu_float);
  VaeDecoder vae(vae_config, VaeOptions{});

  // Key order of the released checkpoint: trans_block.*, unet.*, llm.*.
  NamedTensors checkpoint = stored_as(random_module_weights(*trans_block, "trans_block.", gen), options.diffusion_dtype);
  append(checkpoint, stored_as(random_module_weights(*unet, "unet.", gen), options.diffusion_dtype));
  NamedTensors llm_weights;
  for (const auto& item : llm->named_parameters(/*recurse=*/true))
    llm_weights.emplace_back("llm." + item.key(), item.value());
  append(checkpoint, stored_as(std::move(llm_weights), options.llm_dtype));

  // VAE file in the diffusers state-dict order: encoder, decoder, quant_conv, post_quant_conv.
  NamedTensors vae_weights = random_vae_encoder(vae_config, gen), post_quant;
  for (auto& item : random_module_weights(*vae, "", gen)) {
    if (item.first.rfind("post_quant_conv.", 0) == 0) {
      post_quant.push_back(std::move(item));
    } else {
      vae_weights.push_back(std::move(item));
    }
  }
  const int64_t moments = 2 * vae_config.latent_channels;
  vae_weights.emplace_back("quant_conv.weight", random_parameter("quant_conv.weight", {moments, moments, 1, 1}, gen));
  vae_weights.emplace_back("quant_conv.bias", random_parameter("quant_conv.bias", {moments}, gen));
  append(vae_weights, std::move(post_quant));

  const fs::path sd = dir / "stabilityai" / "stable-diffusion-2-1-base";
  paint::PaintModelPaths paths;
  paths.checkpoint = dir / "viscpm_paint.pt";
  paths.cpm_bee_config = dir / "cpm-bee.json";
  paths.vocabulary = dir / "vocab" / "bee.txt";
  paths.unet_config = sd / "unet" / "config.json";
  paths.vae_config = sd / "vae" / "config.json";
  paths.vae_weights = sd / "vae" / "diffusion_pytorch_model.safetensors";
  paths.scheduler_config = sd / "scheduler" / "scheduler_config.json";

  io::write_text_file(paths.cpm_bee_config, llm_config.to_json().dump(2) + "\n");
  io::write_text_file(paths.vocabulary, vocabulary);
  io::write_text_file(paths.unet_config, unet_json.dump(2) + "\n");
  io::write_text_file(paths.vae_config, vae_json.dump(2) + "\n");
  io::write_text_file(paths.scheduler_config, demo_paint_scheduler_config().dump(2) + "\n");
  io::save_torch_zip(paths.checkpoint, checkpoint);
  io::save_safetensors(paths.vae_weights, stored_as(std::move(vae_weights), options.diffusion_dtype), {{"format", "pt"}});
  return paths;
}

}  // namespace viscpm::testkit

