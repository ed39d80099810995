// Where the files of a VisCPM-Paint model live (layout: models/README.md, section
// "VisCPM-Paint model directory"): the VisCPM-Paint checkpoint (trans_block.*, unet.*,
// llm.*), the CPM-Bee config and vocabulary, and the Stable Diffusion 2.1-base folders the
// reference takes from the hub (UNet config, VAE config + weights, scheduler config).
#pragma once

#include <filesystem>

namespace viscpm::paint {

struct PaintModelPaths {
  std::filesystem::path checkpoint;        // one state dict: trans_block.*, unet.*, llm.*
  std::filesystem::path cpm_bee_config;    // cpm-bee.json (schema of config/cpm-bee-10b.json)
  std::filesystem::path vocabulary;        // bee.txt
  std::filesystem::path unet_config;       // <sd>/unet/config.json (weights come from `checkpoint`)
  std::filesystem::path vae_config;        // <sd>/vae/config.json
  std::filesystem::path vae_weights;       // <sd>/vae/diffusion_pytorch_model.{safetensors,bin}
  std::filesystem::path scheduler_config;  // <sd>/scheduler/scheduler_config.json

  // Finds the files in `dir`:
  //   checkpoint        exactly one of viscpm_paint*.pt, viscpm_paint*.safetensors,
  //                     pytorch_model*.bin, pytorch_model*.safetensors
  //   cpm_bee_config    cpm-bee.json, else config/cpm-bee-10b.json
  //   vocabulary        vocab/bee.txt, else bee.txt
  //   <sd>              stabilityai/stable-diffusion-2-1-base/ when that folder exists, else
  //                     `dir` itself (unet/, vae/, scheduler/ directly inside)
  //   vae_weights       <sd>/vae/diffusion_pytorch_model.safetensors, else .bin (diffusers'
  //                     preference)
  // NotFound names the missing directory/file (and what was looked for); InvalidArgument
  // when several checkpoints match or `dir` is not a directory.
  // Fields already set in `given` are taken as they are and not looked for.
  static PaintModelPaths from_directory(const std::filesystem::path& dir, const PaintModelPaths& given = {});

  // NotFound naming the first path that does not exist; InvalidArgument for an empty path.
  void check_exist() const;
};

}  // namespace viscpm::paint
