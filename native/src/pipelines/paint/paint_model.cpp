// The pipeline needs the tokenizer (text) and CPM-Bee (cpmbee); builds of the diffusion
// component without them (UNet/VAE/scheduler work) leave it out.

#include "pipelines/paint/paint_model.h"

#include "common/error.h"
#include "common/memory.h"
#include "io/tensor_source.h"
#include "pipelines/language_model.h"
#include "text/structured_input.h"
#include "common/tensor_text.h"

#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/isfinite.h>

#include <cmath>
#include <random>

namespace viscpm::paint {
namespace {

cpmbee::CpmBeeInputs forward_inputs(const text::ForwardInput& f) {
  cpmbee::CpmBeeInputs in;
  in.input_ids = f.input_ids;
  in.input_id_subs = f.input_id_subs;
  in.context = f.context;
  in.sample_ids = f.sample_ids;
  in.num_segments = f.num_segments;
  in.segment_ids = f.segment_ids;
  in.segment_rel_offset = f.segment_rel_offset;
  in.segment_rel = f.segment_rel;
  in.length = f.length;
  in.span = f.span;
  in.ext_table_ids = f.ext_table_ids;
  in.ext_table_sub = f.ext_table_sub;
  return in;
}

void check_cancelled(const PaintCallbacks& callbacks) {
  if (callbacks.cancel != nullptr && callbacks.cancel->load()) throw Cancelled("paint generation cancelled");
}

uint64_t fresh_seed() {
  std::random_device device;
  const uint64_t high = device(), low = device();
  return ((high << 32) | low) & 0x7FFFFFFFFFFFFFFFull;  // fits a Java long
}

// Image side: 0 -> default; otherwise a positive multiple of the VAE factor (the reference's
// rule) and of the UNet factor too (this runtime's UNet has no odd-size upsampling path).
int64_t resolve_side(int64_t side, const char* name, const PaintModel& model) {
  if (side == 0) return model.default_image_size();
  const int64_t vae = model.vae_factor(), multiple = model.size_multiple();
  if (side < 0 || side % vae != 0)
    throw InvalidArgument(std::string("image ") + name + " must be a positive multiple of " + std::to_string(vae) +
                          " (the VAE factor), got " + std::to_string(side));
  if (side % multiple != 0)
    throw InvalidArgument(std::string("image ") + name + " must be a multiple of " + std::to_string(multiple) +
                          " for this model (VAE factor " + std::to_string(vae) + " x UNet factor " +
                          std::to_string(multiple / vae) + "), got " + std::to_string(side));
  return side;
}

// Largest guidance scale accepted: the reference uses 7.5; past ~30 images saturate, and
// huge values overflow the latents to inf/NaN (an all-black picture).
constexpr double kMaxGuidanceScale = 100.0;

// Peak working memory of one request, estimated from its shapes before anything is
// allocated: the UNet at its finest level (batch 2K; about 16 feature maps alive with the
// skip connections), one attention score matrix there (one head), and the VAE decoder at
// full resolution (about 6 maps) with its mid-block attention.
double paint_working_bytes(const PaintModel& model, int64_t k, int64_t width, int64_t height) {
  const double item = double(c10::elementSize(model.diffusion_dtype()));
  const double h = double(height / model.vae_factor()), w = double(width / model.vae_factor());
  const double tokens = h * w;
  const double unet_maps = 2.0 * double(k) * double(model.unet().config().block_out_channels.at(0)) * tokens * item * 16;
  const double unet_scores = tokens * tokens * 4;
  const double vae_maps =
      double(k) * double(model.vae().config().block_out_channels.at(0)) * double(width) * double(height) * item * 6;
  const double vae_scores = tokens * tokens * 4;
  return std::max(unet_maps + unet_scores, vae_maps + vae_scores);
}

}  // namespace

std::shared_ptr<PaintModel> PaintModel::load(const std::filesystem::path& model_dir, const PaintModelOptions& options) {
  return load(PaintModelPaths::from_directory(model_dir), options);
}

std::shared_ptr<PaintModel> PaintModel::assemble(std::shared_ptr<const text::Tokenizer> tokenizer, cpmbee::CpmBee llm,
                                                 diffusion::TransBlock trans_block, diffusion::UnetModel unet,
                                                 diffusion::VaeDecoder vae, diffusion::SchedulerConfig scheduler_config) {
  if (!tokenizer || llm.is_empty() || trans_block.is_empty() || unet.is_empty() || vae.is_empty())
    throw InvalidArgument("paint model: every part must be given");
  if (tokenizer->vocab_size() != llm->config().vocab_size)
    throw InvalidArgument("paint model: the vocabulary has " + std::to_string(tokenizer->vocab_size()) +
                          " entries but CPM-Bee's vocab_size is " + std::to_string(llm->config().vocab_size));
  if (trans_block->dim_model() != llm->config().dim_model ||
      trans_block->dim_out() != unet->config().cross_attention_dim)
    throw InvalidArgument("paint model: the trans block maps " + std::to_string(trans_block->dim_model()) + " -> " +
                          std::to_string(trans_block->dim_out()) + " but CPM-Bee has " +
                          std::to_string(llm->config().dim_model) + " and the UNet's cross-attention takes " +
                          std::to_string(unet->config().cross_attention_dim));
  if (vae->config().latent_channels != unet->config().in_channels)
    throw InvalidArgument("paint model: the VAE's latent channels differ from the UNet's input channels");
  if (llm->device() != unet->device() || vae->device() != unet->device())
    throw InvalidArgument("paint model: the parts are on different devices");
  diffusion::make_scheduler("ddpm", scheduler_config);  // throws InvalidArgument on a bad config
  std::shared_ptr<PaintModel> model(new PaintModel());
  model->tokenizer_ = std::move(tokenizer);
  model->llm_dtype_ = llm->dtype();
  model->llm_matrices_ = llm->weight_format();
  model->llm_ = std::move(llm);
  model->trans_block_ = std::move(trans_block);
  model->unet_ = std::move(unet);
  model->vae_ = std::move(vae);
  model->scheduler_config_ = std::move(scheduler_config);
  return model;
}

std::shared_ptr<PaintModel> PaintModel::load(const PaintModelPaths& paths, const PaintModelOptions& options) {
  paths.check_exist();
  if (!pipelines::is_model_dtype(options.diffusion_dtype))
    throw InvalidArgument(std::string("paint model: diffusion dtype must be float32, float16 or bfloat16, got ") +
                          c10::toString(options.diffusion_dtype));

  // Configs first: a bad or mismatched file fails before any weight is read.
  auto [tokenizer, llm_config] = pipelines::read_language_model_files(paths.vocabulary, paths.cpm_bee_config);
  const diffusion::UnetConfig unet_config = diffusion::UnetConfig::from_file(paths.unet_config);
  const diffusion::VaeConfig vae_config = diffusion::VaeConfig::from_file(paths.vae_config);
  if (vae_config.latent_channels != unet_config.in_channels || vae_config.latent_channels != unet_config.out_channels)
    throw FormatError("the VAE (" + paths.vae_config.string() + ") has " + std::to_string(vae_config.latent_channels) +
                      " latent channels but the UNet (" + paths.unet_config.string() + ") takes " +
                      std::to_string(unet_config.in_channels) + " and returns " +
                      std::to_string(unet_config.out_channels));
  diffusion::SchedulerConfig scheduler_config = diffusion::SchedulerConfig::from_file(paths.scheduler_config);
  try {
    diffusion::make_scheduler("ddpm", scheduler_config);  // the default must build from this file
  } catch (const InvalidArgument& e) {
    throw FormatError(paths.scheduler_config.string() + ": " + e.what());
  }

  const at::ScalarType llm_dtype =
      pipelines::resolve_language_model_dtype(options.llm_dtype, llm_config, options.device, "paint model: CPM-Bee");
  c10::InferenceMode guard;
  const auto source = pipelines::open_checkpoint(paths.checkpoint, options.verify_checksums);
  const cpmbee::WeightFormat llm_matrices = pipelines::resolve_language_model_matrices(options.llm_matrices, *source);
  cpmbee::require_weights_fit(llm_config, llm_dtype, options.device, llm_matrices);

  // The trans block joins CPM-Bee (input width) and the UNet (cross-attention width).
  const io::TensorEntry* w = source->find("trans_block.w_out_res.weight");
  if (w == nullptr)
    throw FormatError(paths.checkpoint.string() + ": no 'trans_block.w_out_res.weight' (not a VisCPM-Paint checkpoint?)");
  if (w->shape != std::vector<int64_t>{unet_config.cross_attention_dim, llm_config.dim_model})
    throw FormatError(paths.checkpoint.string() + ": 'trans_block.w_out_res.weight' has shape " + shape_string(w->shape) +
                      " but the configs need [" + std::to_string(unet_config.cross_attention_dim) +
                      " (UNet cross_attention_dim), " + std::to_string(llm_config.dim_model) + " (CPM-Bee dim_model)]");

  std::shared_ptr<PaintModel> model(new PaintModel());
  model->tokenizer_ = std::move(tokenizer);
  model->scheduler_config_ = std::move(scheduler_config);

  model->llm_dtype_ = llm_dtype;
  model->llm_matrices_ = llm_matrices;
  if (options.low_memory) {
    pipelines::check_language_model(*source, llm_config, llm_matrices);  // errors now, not at the first image
    model->on_demand_ = std::make_unique<LanguageModelOnDemand>();
    model->on_demand_->checkpoint = paths.checkpoint;
    model->on_demand_->config = llm_config;
    model->on_demand_->verify_checksums = options.verify_checksums;
  } else {
    model->llm_ = pipelines::load_language_model(*source, llm_config, llm_dtype, options.device, llm_matrices);
  }

  diffusion::TransBlockOptions trans_options;
  trans_options.dtype = options.diffusion_dtype;
  trans_options.device = options.device;
  model->trans_block_ = diffusion::load_trans_block(*source, trans_options);

  diffusion::UnetLoadOptions unet_options;
  unet_options.model.dtype = options.diffusion_dtype;
  unet_options.model.device = options.device;
  unet_options.model.attention = options.attention;
  unet_options.layout = diffusion::UnetKeyLayout::kDiffusers;
  unet_options.prefix = "unet.";
  model->unet_ = diffusion::load_unet(unet_config, *source, unet_options);

  diffusion::VaeOptions vae_options;
  vae_options.dtype = options.diffusion_dtype;
  vae_options.device = options.device;
  vae_options.attention = options.attention;
  const auto vae_source = pipelines::open_checkpoint(paths.vae_weights, options.verify_checksums);
  model->vae_ = diffusion::load_vae_decoder(vae_config, *vae_source, vae_options);
  return model;
}

const cpmbee::CpmBeeImpl& PaintModel::language_model() const {
  if (llm_.is_empty())
    throw Unsupported("this paint model was loaded in low-memory mode: CPM-Bee is loaded only while a prompt is encoded");
  return *llm_;
}

PaintConditioning PaintModel::encode_prompt(const std::string& prompt, const std::string& negative_prompt) const {
  if (!llm_.is_empty()) return encode_with(*llm_, prompt, negative_prompt);
  // Low-memory mode: CPM-Bee for this encoding only, freed when it returns.
  std::lock_guard<std::mutex> one_at_a_time(on_demand_->mutex);
  const auto source = pipelines::open_checkpoint(on_demand_->checkpoint, on_demand_->verify_checksums);
  const cpmbee::CpmBee llm =
      pipelines::load_language_model(*source, on_demand_->config, llm_dtype_, device(), llm_matrices_);
  return encode_with(*llm, prompt, negative_prompt);
}

PaintConditioning PaintModel::encode_with(const cpmbee::CpmBeeImpl& llm, const std::string& prompt,
                                          const std::string& negative_prompt) const {
  c10::InferenceMode guard;
  // Both dicts are padded to one length; the padded positions go through CPM-Bee too and
  // stay in the UNet context (it has no attention mask), as in the reference.
  const text::PaintInputs inputs = text::build_paint_inputs(*tokenizer_, prompt, negative_prompt);
  if (inputs.padded_length > kMaxPromptTokens)
    throw InvalidArgument("the paint prompt is too long: " + std::to_string(inputs.padded_length) +
                          " tokens (prompt and negative prompt encoded, the longer counts), at most " +
                          std::to_string(kMaxPromptTokens) + " fit; shorten the prompt");
  PaintConditioning out;
  out.padded_length = inputs.padded_length;
  // Two batch-1 forwards, as the reference runs them.
  out.cond_hidden_states = llm.forward(forward_inputs(inputs.cond), {}, cpmbee::LogitsMode::kNone).hidden_states;
  out.uncond_hidden_states = llm.forward(forward_inputs(inputs.uncond), {}, cpmbee::LogitsMode::kNone).hidden_states;
  out.cond_embeddings = trans_block_->forward(out.cond_hidden_states);
  out.uncond_embeddings = trans_block_->forward(out.uncond_hidden_states);
  return out;
}

PaintResult PaintModel::generate(const PaintRequest& request, const PaintCallbacks& callbacks, PaintTrace* trace) const {
  c10::InferenceMode guard;
  // --- request validation (before any model work) ---
  const int64_t width = resolve_side(request.width, "width", *this);
  const int64_t height = resolve_side(request.height, "height", *this);
  if (request.num_inference_steps < 1)
    throw InvalidArgument("num_inference_steps must be at least 1, got " + std::to_string(request.num_inference_steps));
  if (!(request.guidance_scale >= 0 && request.guidance_scale <= kMaxGuidanceScale))
    throw InvalidArgument("guidance_scale must be between 0 and " + std::to_string(int(kMaxGuidanceScale)) +
                          " (7.5 is VisCPM-Paint's default), got " + std::to_string(request.guidance_scale));
  if (!std::isfinite(request.eta) || request.eta < 0)
    throw InvalidArgument("eta must be a finite number >= 0, got " + std::to_string(request.eta));
  if (request.num_images < 1)
    throw InvalidArgument("num_images must be at least 1, got " + std::to_string(request.num_images));
  const int64_t k = request.num_images;
  const std::vector<int64_t> latent_shape{k, latent_channels(), height / vae_factor(), width / vae_factor()};
  if (request.initial_latents.defined()) {
    if (request.initial_latents.sizes() != at::IntArrayRef(latent_shape) ||
        !at::isFloatingType(request.initial_latents.scalar_type()))
      throw InvalidArgument("initial_latents must be a floating-point tensor of shape " + shape_string(latent_shape) +
                            " (num_images, latent channels, height/" + std::to_string(vae_factor()) + ", width/" +
                            std::to_string(vae_factor()) + "), got " + shape_string(request.initial_latents.sizes()));
  }
  for (size_t i = 0; i < request.step_noise.size(); ++i) {
    const at::Tensor& n = request.step_noise[i];
    if (!n.defined() || n.sizes() != at::IntArrayRef(latent_shape))
      throw InvalidArgument("step_noise[" + std::to_string(i) + "] must have shape " + shape_string(latent_shape) +
                            ", got " + (n.defined() ? shape_string(n.sizes()) : std::string("an undefined tensor")));
  }

  memory::require(paint_working_bytes(*this, k, width, height),
                  "painting " + std::to_string(k) + (k == 1 ? " image" : " images") + " of " + std::to_string(width) +
                      "x" + std::to_string(height),
                  device(), "paint fewer or smaller images per request");
  std::unique_ptr<diffusion::Scheduler> scheduler = diffusion::make_scheduler(request.scheduler, scheduler_config_);
  diffusion::StepOptions step_options;
  step_options.eta = request.eta;
  scheduler->set_step_options(step_options);
  scheduler->set_timesteps(request.num_inference_steps);
  const at::Tensor timesteps = scheduler->timesteps();
  const std::vector<double> timestep_values = scheduler->timestep_values();
  const int64_t total = static_cast<int64_t>(timestep_values.size());

  PaintResult result;
  result.seed = request.seed ? *request.seed : fresh_seed();
  result.width = width;
  result.height = height;
  result.steps = total;
  result.scheduler = scheduler->name();

  // --- conditioning: context = cat([uncond x K, cond x K]) ---
  check_cancelled(callbacks);
  const PaintConditioning cond = encode_prompt(request.prompt, request.negative_prompt);
  const at::Tensor& e_u = cond.uncond_embeddings;
  const at::Tensor& e_c = cond.cond_embeddings;
  const at::Tensor context = at::cat({e_u.expand({k, e_u.size(1), e_u.size(2)}), e_c.expand({k, e_c.size(1), e_c.size(2)})}, 0);

  // --- latents: one draw of [K, C, h, w], then the scheduler's draws, one generator ---
  const at::ScalarType dtype = diffusion_dtype();
  const at::Device dev = device();
  at::Generator generator = diffusion::make_cpu_generator(result.seed);
  diffusion::GeneratorNoise generator_noise(&generator);
  at::Tensor latents = request.initial_latents.defined() ? request.initial_latents.to(dev, dtype)
                                                         : generator_noise.randn(latent_shape, dtype, dev);
  latents = latents * scheduler->init_noise_sigma();

  std::optional<diffusion::ReplayNoise> replay;
  if (!request.step_noise.empty()) replay.emplace(request.step_noise);
  diffusion::NoiseSource& loop_noise = replay ? static_cast<diffusion::NoiseSource&>(*replay) : generator_noise;
  std::optional<diffusion::RecordingNoise> recording;
  if (trace != nullptr) recording.emplace(loop_noise);
  diffusion::NoiseSource& noise = recording ? static_cast<diffusion::NoiseSource&>(*recording) : loop_noise;

  if (trace != nullptr) {
    *trace = PaintTrace();
    trace->cond_hidden_states = cond.cond_hidden_states;
    trace->uncond_hidden_states = cond.uncond_hidden_states;
    trace->encoder_hidden_states = context;
    trace->initial_latents = latents;
    trace->timesteps = timesteps;
  }

  // --- denoising loop (paint.md §7.3): unconditional half first ---
  for (int64_t i = 0; i < total; ++i) {
    check_cancelled(callbacks);
    const double t = timestep_values[static_cast<size_t>(i)];
    const at::Tensor latent_in = scheduler->scale_model_input(at::cat({latents, latents}, 0), t);
    const at::Tensor eps = unet_->forward(latent_in, timesteps[i], context);
    const at::Tensor eps_u = eps.narrow(0, 0, k), eps_c = eps.narrow(0, k, k);
    latents = scheduler->guided_step(eps_u, eps_c, request.guidance_scale, t, latents, noise);
    if (trace != nullptr) {
      trace->unet_inputs.push_back(latent_in);
      trace->unet_outputs.push_back(eps);
      trace->latents_after_step.push_back(latents);
    }
    if (callbacks.on_step && !callbacks.on_step(i + 1, total)) throw Cancelled("paint generation cancelled");
  }
  if (trace != nullptr) trace->scheduler_noise = recording->draws();
  // Once per request, not per step: overflowed latents would decode to a black picture.
  if (!at::isfinite(latents).all().item<bool>())
    throw InvalidArgument("the denoised latents are not finite (inf or NaN) after " + std::to_string(total) +
                          " steps: lower guidance_scale" +
                          (dtype == at::kFloat ? std::string() : std::string(", or paint in float32")));

  // --- decode (paint.md §8-§9) ---
  check_cancelled(callbacks);
  const at::Tensor decoded = vae_->decode_latents(latents);
  if (trace != nullptr) trace->decoded = decoded;
  result.images = diffusion::VaeDecoderImpl::to_uint8(diffusion::VaeDecoderImpl::to_image_float(decoded)).cpu().contiguous();
  return result;
}

}  // namespace viscpm::paint

