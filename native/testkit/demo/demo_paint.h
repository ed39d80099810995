// A tiny RANDOM VisCPM-Paint model built with the project's own code, for demos and
// round-trip tests: the file formats, key names and directory layout of the released model
// (paint::PaintModelPaths, models/README.md), tiny sizes, random weights, and the chat demo's
// generated vocabulary (testkit::demo_vocabulary_text: CPM-Bee's special tokens, printable
// ASCII, common Chinese characters and English words; not the real bee.txt). Its images
// are meaningless noise patterns.
#pragma once

#include "cpmbee/config.h"
#include "pipelines/paint/paint_model_paths.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>

namespace viscpm::testkit {

struct DemoPaintOptions {
  uint64_t seed = 20230701;
  // Stored dtypes, as the released checkpoint (llm.* float16, unet.* / trans_block.* float32).
  at::ScalarType llm_dtype = at::kHalf;
  at::ScalarType diffusion_dtype = at::kFloat;
  // Larger shapes for benchmarks (defaults: the tiny demo configs below). The CPM-Bee
  // config's vocab_size is replaced by the demo vocabulary's.
  std::optional<cpmbee::CpmBeeConfig> cpm_bee_config;
  std::optional<nlohmann::ordered_json> unet_config, vae_config;
};

// CPM-Bee: dim 32, 2 layers, 2 heads of 16, FFN 64, "half": true (as the released config).
cpmbee::CpmBeeConfig demo_paint_cpm_bee_config(int64_t vocab_size);
// unet/config.json with the SD 2.1-base key set: 4 levels (32, 32, 64, 64), 2 layers per
// block, heads (2, 2, 4, 4), cross_attention_dim 32, sample_size 8 (64-pixel images).
nlohmann::ordered_json demo_paint_unet_config();
// vae/config.json with the SD 2.1-base key set: 4 levels (16, 32, 32, 32), factor 8.
nlohmann::ordered_json demo_paint_vae_config();
// scheduler/scheduler_config.json: the SD 2.1-base scheduler file's values.
nlohmann::ordered_json demo_paint_scheduler_config();

// Writes DIR/viscpm_paint.pt (torch.save zip: trans_block.*, unet.*, llm.*), DIR/cpm-bee.json,
// DIR/vocab/bee.txt and DIR/stabilityai/stable-diffusion-2-1-base/{unet/config.json,
// vae/config.json, vae/diffusion_pytorch_model.safetensors (encoder and decoder keys, as the
// hub file), scheduler/scheduler_config.json}, creating DIR. Deterministic for a seed.
// Returns the written paths. InvalidArgument for a non-float dtype; IoError when the files
// cannot be written.
paint::PaintModelPaths write_demo_paint_model(const std::filesystem::path& dir, const DemoPaintOptions& options = {});

}  // namespace viscpm::testkit
