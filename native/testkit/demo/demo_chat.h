// A tiny RANDOM VisCPM-Chat model built with the project's own code, for demos and
// round-trip tests: same file formats, key names and directory layout as the released
// model (chat::ChatModelPaths), tiny sizes, random weights, and a small generated vocabulary
// (CPM-Bee's special tokens at their usual ids, printable ASCII, common Chinese characters
// and English words; not the real bee.txt). Its answers are meaningless.
#pragma once

#include "cpmbee/config.h"
#include "pipelines/chat/chat_model_paths.h"
#include "vision/beit3_config.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace viscpm::testkit {

struct DemoChatOptions {
  uint64_t seed = 20230701;
  at::ScalarType dtype = at::kFloat;  // stored dtype of the checkpoint (float32 / float16 / bfloat16)
};

// The demo vocabulary in bee.txt format (one entry per line, "</n>" / "</_>" for newline
// and space).
std::string demo_vocabulary_text();
// CPM-Bee: dim 32, 2 layers, 2 heads of 16, FFN 64, fp32 ("half": false).
cpmbee::CpmBeeConfig demo_cpm_bee_config(int64_t vocab_size);
// BEiT-3: 32x32 images, 16x16 patches, width 32, 2 layers, 4 heads, 8 queries.
vision::Beit3Config demo_beit3_config();

// Writes DIR/viscpm_chat.pt (torch.save zip: query, vpm.*, llm.*, mapping.*, plus the
// unused vpm.beit3.text_embed / vision_embed.mask_token keys the released file carries),
// DIR/cpm-bee.json, DIR/beit3.json and DIR/vocab/bee.txt, creating DIR. Deterministic for
// a seed. Returns the written paths. IoError when the files cannot be written.
chat::ChatModelPaths write_demo_chat_model(const std::filesystem::path& dir, const DemoChatOptions& options = {});

// A packed RGB test picture (colour gradients), width * height * 3 bytes.
std::vector<uint8_t> demo_image_rgb(int width = 64, int height = 48);

}  // namespace viscpm::testkit
