// Golden cases of kind "paint_pipeline" (fixtures README): the whole VisCPM-Paint path with
// one CPU generator seeded with params.seed and the default DDPM scheduler; intermediates
// come from the pipeline's trace.

#include "pipelines/paint/paint_model.h"
#include "testkit/parity/kinds.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/stack.h>

#include <map>

namespace viscpm::parity {
namespace {

// The manifest's "models" entry whose dir is the case's model folder (paint layout).
json model_entry(const Case& c) {
  const std::string model = c.entry().at("model").get<std::string>();
  const json models = c.suite().manifest().value("models", json::object());  // a copy: items() must not dangle
  for (const auto& [name, entry] : models.items()) {
    if (entry.value("dir", std::string()) == model) return entry;
  }
  return json::object();
}

paint::PaintModelPaths case_paths(const Case& c) {
  const json entry = model_entry(c);
  const auto& suite = c.suite();
  // Files named by the manifest win; the rest are found as in a model directory.
  auto named = [&](const char* key) -> std::filesystem::path {
    return entry.contains(key) ? suite.resolve(entry[key].get<std::string>()) : std::filesystem::path();
  };
  paint::PaintModelPaths paths;
  const std::filesystem::path dir = c.model_dir();
  const std::filesystem::path sd = entry.contains("sd_dir") ? named("sd_dir") : dir / "stabilityai" / "stable-diffusion-2-1-base";
  paths.checkpoint = c.entry().contains("checkpoint") ? c.checkpoint() : named("checkpoint");
  paths.cpm_bee_config = entry.contains("cpm_bee_config") ? named("cpm_bee_config") : dir / "cpm-bee.json";
  const std::string vocab = c.params().contains("vocab") ? c.params()["vocab"].get<std::string>()
                                                         : suite.manifest().at("vocab").get<std::string>();
  paths.vocabulary = suite.resolve(vocab);
  paths.unet_config = entry.contains("unet_config") ? named("unet_config") : sd / "unet" / "config.json";
  const std::filesystem::path vae_dir = entry.contains("vae_dir") ? named("vae_dir") : sd / "vae";
  paths.vae_config = vae_dir / "config.json";
  paths.vae_weights = vae_dir / "diffusion_pytorch_model.safetensors";
  if (!std::filesystem::exists(paths.vae_weights)) paths.vae_weights = vae_dir / "diffusion_pytorch_model.bin";
  paths.scheduler_config =
      entry.contains("scheduler_config") ? named("scheduler_config") : sd / "scheduler" / "scheduler_config.json";
  return paths;
}

bool has_json(const Case& c, const char* section) {
  const json& entry = c.entry();
  return entry.contains(section) && entry[section].is_object() && entry[section].contains("json");
}

at::Tensor stacked(const std::vector<at::Tensor>& tensors) { return at::stack(tensors).cpu(); }

}  // namespace

void run_paint_pipeline(const Case& c, Result& r) {
  const paint::PaintModelPaths paths = case_paths(c);
  const at::Device device = c.suite().device();
  auto model = c.suite().cached<paint::PaintModel>(
      "diffusion.paint|" + paths.checkpoint.string() + "|" + paths.vocabulary.string() + "|" + device.str(), [&] {
        paint::PaintModelOptions options;
        options.device = device;
        options.llm_dtype = at::kFloat;  // the fixtures are float32 throughout
        return paint::PaintModel::load(paths, options);
      });

  // Inputs: inputs.json, params as a fallback.
  const json& in = has_json(c, "inputs") ? c.inputs_json() : c.params();
  auto field = [&](const char* key) -> const json& { return in.contains(key) ? in.at(key) : c.params().at(key); };
  paint::PaintRequest request;
  request.prompt = field("prompt").get<std::string>();
  const json& negative = in.contains("negative_prompt") ? in.at("negative_prompt") : json();
  request.negative_prompt = negative.is_string() ? negative.get<std::string>() : "";
  request.guidance_scale = field("guidance_scale").get<double>();
  request.num_inference_steps = field("num_inference_steps").get<int64_t>();
  request.width = request.height = field("image_size").get<int64_t>();
  request.seed = field("seed").get<uint64_t>();
  request.scheduler = "ddpm";  // the reference's SDWrapper default

  paint::PaintTrace trace;
  const paint::PaintResult result = model->generate(request, {}, &trace);
  c10::InferenceMode guard;

  std::map<std::string, at::Tensor> actual;
  actual["cond_hidden_states"] = trace.cond_hidden_states.cpu();
  actual["uncond_hidden_states"] = trace.uncond_hidden_states.cpu();
  actual["unet_encoder_hidden_states"] = trace.encoder_hidden_states.cpu();
  actual["initial_latents"] = trace.initial_latents.cpu();
  actual["timesteps"] = trace.timesteps;
  actual["unet_inputs"] = stacked(trace.unet_inputs);
  actual["unet_outputs"] = stacked(trace.unet_outputs);
  actual["latents_after_step"] = stacked(trace.latents_after_step);
  if (!trace.scheduler_noise.empty()) actual["ddpm_noise_draws"] = stacked(trace.scheduler_noise);
  // One image per prompt: the fixture stores it without the batch axis.
  actual["image_uint8"] = result.images.size(0) == 1 ? result.images[0] : result.images;
  for (const auto& name : c.expected_names()) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      r.fail(name, "not produced by the paint pipeline");
    } else {
      r.compare(c, name, it->second);
    }
  }

  if (has_json(c, "expected")) {
    json out = json::object();
    out["nsfw_content_detected"] = nullptr;  // no image safety checker in this runtime
    out["num_ddpm_noise_draws"] = static_cast<int64_t>(trace.scheduler_noise.size());
    json size = json::array();
    for (int64_t d : actual["image_uint8"].sizes()) size.push_back(d);
    out["image_size"] = size;
    r.compare_json(c, "json", out, c.expected_json());
  }
}

}  // namespace viscpm::parity

