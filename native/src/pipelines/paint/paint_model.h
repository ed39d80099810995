// VisCPM-Paint end to end (spec paint.md): prompt and negative prompt through CPM-Bee's
// structured input {"caption", "objects"} (both padded to one length), CPM-Bee's full
// forward -> final hidden states, trans block, classifier-free-guidance denoising loop
// with the UNet and a scheduler (DDPM by default, as the reference), VAE decode, uint8 RGB.
// The optional safety checkers and the Chinese-CLIP reranker of the reference are not
// part of this runtime (paint.md §10).
//
// Random numbers (paint.md §6): one CPU generator seeded with the request's seed gives
// the initial latents ([K, C, h, w] in ONE draw, as diffusers does for K images) and
// then every scheduler draw, in loop order: with the default DDPM scheduler the
// reference's CPU-seeded runs are reproduced (the fixture's draws to ~2e-6). Callers may
// inject the initial latents and/or the scheduler draws instead.
//
// Thread-safety: a PaintModel is immutable after load(); generate() is const and may run
// on several threads at once (each call builds its own scheduler and generator). Cancel
// a running call through PaintCallbacks from any thread. Everything runs under
// c10::InferenceMode.
//
// Resolved at load time: configs (CPM-Bee, UNet, VAE, scheduler file), vocabulary,
// parameter dtypes and device, every weight (converted once), attention kernels. Per
// call: the prompt encoding, one scheduler object, the latents.
#pragma once

#include "cpmbee/model.h"
#include "kernels/ops.h"
#include "pipelines/paint/paint_model_paths.h"
#include "diffusion/scheduler.h"
#include "diffusion/trans_block.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "text/tokenizer.h"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace viscpm::paint {

struct PaintModelOptions {
  at::Device device = at::kCPU;
  // CPM-Bee parameter/activation dtype (float32, float16, bfloat16). nullopt: float16 when
  // cpm-bee.json says "half" and the device is CUDA (the released setup), else float32.
  std::optional<at::ScalarType> llm_dtype;
  // CPM-Bee's weight matrices (int8 rows, or as the checkpoint stores them when nullopt), as
  // ChatModelOptions::llm_matrices.
  std::optional<cpmbee::WeightFormat> llm_matrices;
  // Trans block, UNet, latents and VAE dtype (reference: float32; float16/bfloat16 allowed).
  at::ScalarType diffusion_dtype = at::kFloat;
  diffusion::AttentionSettings attention;  // UNet and VAE attention kernel (kAuto: fused on CUDA)
  bool verify_checksums = true; // CRC-32 of the checkpoint records (io::OpenOptions)
  // Keep CPM-Bee (19.2 GB in fp16 at full size) only while a prompt is encoded: load() checks
  // its keys and shapes without reading them, every generate() reads the weights, encodes
  // and frees them before the denoising loop, so the process holds the text encoder or the
  // UNet's working memory, never both. Encodings take turns (one CPM-Bee at a time); each
  // call pays one read of the CPM-Bee weights.
  bool low_memory = false;
};

struct PaintRequest {
  std::string prompt;
  std::string negative_prompt;  // "" = the reference's default (None -> "")
  // Image size in pixels; 0 = the UNet's sample_size x the VAE factor (512 for SD 2.1-base).
  // Multiples of the VAE factor (8) are required, as by the reference; this runtime's UNet
  // also needs the latent sides to be multiples of its own factor (8 for SD: 64 px).
  int64_t width = 0, height = 0;
  int64_t num_inference_steps = 50;
  double guidance_scale = 7.5;  // classifier-free guidance is always applied, as the reference does
  int64_t num_images = 1;       // K images in one batch (latents [K, C, h, w], context 2K rows)
  // ddpm (the reference), ddim, pndm, euler, euler_ancestral, dpmsolver_multistep, or an alias
  // (see diffusion::make_scheduler). The scheduler is built from the model's scheduler_config.json.
  std::string scheduler = "ddpm";
  double eta = 0.0;             // DDIM only (0 = deterministic); ignored by the other schedulers
  // Generator seed (torch.Generator().manual_seed(seed)); nullopt: a fresh random seed,
  // reported in PaintResult::seed.
  std::optional<uint64_t> seed;
  // Optional standard-normal initial latents [K, C, h, w] (before init_noise_sigma, like the
  // reference's `latents` argument); the generator then draws only the scheduler noise.
  at::Tensor initial_latents;
  // Optional scheduler draws in order (each [K, C, h, w]); replaces the generator for the
  // loop. Running out of draws is an InvalidArgument.
  std::vector<at::Tensor> step_noise;
};

struct PaintCallbacks {
  // Called after each denoising step with (step, total), step = 1..total. Returning false
  // cancels the call (viscpm::Cancelled); the callback may also throw Cancelled itself.
  std::function<bool(int64_t step, int64_t total)> on_step;
  // Cancels the call when set (from any thread); checked before every model call.
  const std::atomic<bool>* cancel = nullptr;
};

// Intermediates of one generate() call (golden tests, debugging). Tensors stay on the model
// device in the model dtypes.
struct PaintTrace {
  at::Tensor cond_hidden_states, uncond_hidden_states;  // CPM-Bee final hidden states [1, L, D]
  at::Tensor encoder_hidden_states;                     // UNet context [2K, L, C]: uncond rows first
  at::Tensor initial_latents;                           // x_T [K, C, h, w] after init_noise_sigma
  at::Tensor timesteps;                                 // the scheduler's timesteps (CPU)
  std::vector<at::Tensor> unet_inputs;                  // per step [2K, C, h, w] (after scale_model_input)
  std::vector<at::Tensor> unet_outputs;                 // per step [2K, C, h, w] (before guidance)
  std::vector<at::Tensor> latents_after_step;           // per step [K, C, h, w]
  std::vector<at::Tensor> scheduler_noise;              // every scheduler draw, in order
  at::Tensor decoded;                                   // VAE output [K, 3, H, W] (nominal [-1, 1])
};

struct PaintResult {
  at::Tensor images;    // uint8 [K, H, W, 3] RGB, CPU, contiguous
  uint64_t seed = 0;    // the generator seed used
  int64_t width = 0, height = 0, steps = 0;
  std::string scheduler;  // canonical scheduler name
};

// CPM-Bee conditioning of one prompt pair (paint.md §2-§5).
struct PaintConditioning {
  at::Tensor cond_hidden_states, uncond_hidden_states;  // [1, L, D], CPM-Bee dtype
  at::Tensor cond_embeddings, uncond_embeddings;        // trans block outputs [1, L, C]
  int64_t padded_length = 0;                            // L
};

class PaintModel {
 public:
  // From a model directory (PaintModelPaths::from_directory) or explicit paths. NotFound
  // names a missing file; FormatError a bad config/checkpoint (key, shapes) or parts that do
  // not fit together (vocabulary vs vocab_size, trans block vs CPM-Bee / UNet widths, VAE
  // latent channels vs UNet channels); InvalidArgument bad options.
  static std::shared_ptr<PaintModel> load(const std::filesystem::path& model_dir, const PaintModelOptions& options = {});
  static std::shared_ptr<PaintModel> load(const PaintModelPaths& paths, const PaintModelOptions& options = {});
  // From parts already built (benchmarks and tests with random weights at the released
  // shapes): InvalidArgument when they do not fit together (vocabulary, widths, channels,
  // devices) or the scheduler config cannot build the default scheduler.
  static std::shared_ptr<PaintModel> assemble(std::shared_ptr<const text::Tokenizer> tokenizer, cpmbee::CpmBee llm,
                                              diffusion::TransBlock trans_block, diffusion::UnetModel unet,
                                              diffusion::VaeDecoder vae, diffusion::SchedulerConfig scheduler_config);

  // One text-to-image call. InvalidArgument: bad request (sizes, steps, guidance, count,
  // scheduler name, latents/noise shapes, prompt text the tokenizer rejects, e.g. an
  // unterminated '<': the prompt is not escaped, as in the reference). Cancelled: stopped
  // through `callbacks`. `trace` (optional) receives the intermediates.
  PaintResult generate(const PaintRequest& request, const PaintCallbacks& callbacks = {},
                       PaintTrace* trace = nullptr) const;

  // The conditioning step alone (CPM-Bee + trans block for prompt and negative prompt).
  // InvalidArgument when the longer of the two encodings has more than kMaxPromptTokens
  // tokens (CPM-Bee's attention tables grow with its square).
  PaintConditioning encode_prompt(const std::string& prompt, const std::string& negative_prompt = "") const;
  // The same budget as a chat prompt (max_input_length). Without it a 40,000-character
  // prompt asked the allocator for 12.8 GB of attention tables.
  static constexpr int64_t kMaxPromptTokens = 3000;

  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  // Unsupported in low-memory mode (CPM-Bee lives only inside encode_prompt there).
  const cpmbee::CpmBeeImpl& language_model() const;
  bool low_memory() const { return llm_.is_empty(); }
  const diffusion::TransBlockImpl& trans_block() const { return *trans_block_; }
  const diffusion::UnetModelImpl& unet() const { return *unet_; }
  const diffusion::VaeDecoderImpl& vae() const { return *vae_; }
  const diffusion::SchedulerConfig& scheduler_config() const { return scheduler_config_; }
  at::Device device() const { return unet_->device(); }
  at::ScalarType llm_dtype() const { return llm_dtype_; }
  at::ScalarType diffusion_dtype() const { return unet_->dtype(); }
  int64_t vae_factor() const { return vae_->config().upsampling_factor(); }
  // Image sides must be multiples of this (VAE factor x UNet factor).
  int64_t size_multiple() const { return vae_factor() * unet_->config().downsampling_factor(); }
  int64_t default_image_size() const { return unet_->config().sample_size * vae_factor(); }
  int64_t latent_channels() const { return unet_->config().in_channels; }

 private:
  PaintModel() = default;

  // The conditioning of encode_prompt with a given CPM-Bee.
  PaintConditioning encode_with(const cpmbee::CpmBeeImpl& llm, const std::string& prompt,
                                const std::string& negative_prompt) const;

  std::shared_ptr<const text::Tokenizer> tokenizer_;
  cpmbee::CpmBee llm_{nullptr};  // empty in low-memory mode
  at::ScalarType llm_dtype_ = at::kFloat;
  cpmbee::WeightFormat llm_matrices_ = cpmbee::WeightFormat::kDense;
  // Low-memory mode: where and how encode_prompt loads CPM-Bee, one load at a time.
  struct LanguageModelOnDemand {
    std::filesystem::path checkpoint;
    cpmbee::CpmBeeConfig config;
    bool verify_checksums = true;
    std::mutex mutex;
  };
  std::unique_ptr<LanguageModelOnDemand> on_demand_;
  diffusion::TransBlock trans_block_{nullptr};
  diffusion::UnetModel unet_{nullptr};
  diffusion::VaeDecoder vae_{nullptr};
  diffusion::SchedulerConfig scheduler_config_;
};

}  // namespace viscpm::paint
