#include "testkit/demo/demo_chat.h"

#include "common/error.h"
#include "io/text.h"

#include <algorithm>
#include "cpmbee/model.h"
#include "io/tensor_source.h"
#include "vision/vision_encoder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/empty.h>

#include <cmath>
#include <fstream>

namespace viscpm::testkit {
namespace {

namespace fs = std::filesystem;

// Random vision weights: weight matrices/kernels ~ N(0, 1/fan_in), norm scales ~ 1, small
// biases and embeddings, so activations stay O(1).
at::Tensor random_like_parameter(const std::string& name, const at::Tensor& p, at::Generator& gen) {
  at::Tensor t = at::empty(p.sizes(), at::TensorOptions().dtype(at::kFloat));
  const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
  if (is_bias) return t.normal_(0.0, 0.02, gen);
  if (p.dim() == 1) return t.normal_(1.0, 0.02, gen);  // LayerNorm scale
  const int64_t fan_in = p.numel() / std::max<int64_t>(1, p.size(0));
  const bool is_embedding = name.find("embed") != std::string::npos || name == "query" ||
                            name.find("cls_token") != std::string::npos;
  return t.normal_(0.0, is_embedding ? 0.5 : 1.0 / std::sqrt(static_cast<double>(fan_in)), gen);
}

}  // namespace

cpmbee::CpmBeeConfig demo_cpm_bee_config(int64_t vocab_size) {
  cpmbee::CpmBeeConfig c;
  c.vocab_size = vocab_size;
  c.dim_model = 32;
  c.dim_ff = 64;
  c.num_layers = 2;
  c.num_heads = 2;
  c.dim_head = 16;
  c.half = false;
  return c;
}

vision::Beit3Config demo_beit3_config() {
  vision::Beit3Config c;
  c.img_size = 32;
  c.patch_size = 16;
  c.encoder_embed_dim = 32;
  c.encoder_attention_heads = 4;
  c.encoder_ffn_embed_dim = 64;
  c.encoder_layers = 2;
  c.vocab_size = 64;
  c.max_source_positions = 16;
  c.query_num = 8;
  return c;
}

chat::ChatModelPaths write_demo_chat_model(const fs::path& dir, const DemoChatOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kHalf && options.dtype != at::kBFloat16)
    throw InvalidArgument("demo model dtype must be float32, float16 or bfloat16");
  std::error_code ec;
  fs::create_directories(dir / "vocab", ec);
  if (ec) throw IoError("cannot create " + (dir / "vocab").string() + ": " + ec.message());
  c10::InferenceMode guard;

  const std::string vocabulary = demo_vocabulary_text();
  const cpmbee::CpmBeeConfig llm_config = demo_cpm_bee_config(static_cast<int64_t>(std::count(vocabulary.begin(), vocabulary.end(), '\n')));
  const vision::Beit3Config vision_config = demo_beit3_config();

  cpmbee::CpmBee llm(llm_config, at::kFloat, at::kCPU);
  llm->init_random_(options.seed, 1.0);
  vision::VisionEncoder vision(vision_config, llm_config.dim_model, at::TensorOptions().dtype(at::kFloat));
  at::Generator gen = at::detail::createCPUGenerator(options.seed + 1);

  // Key order of the released state dict: query, vpm.*, llm.*, mapping.*.
  std::vector<std::pair<std::string, at::Tensor>> tensors, mapping;
  auto add = [&](const std::string& name, const at::Tensor& t) { tensors.emplace_back(name, t.to(options.dtype)); };
  const int64_t width = vision_config.encoder_embed_dim;
  for (const auto& item : vision->named_parameters(/*recurse=*/true)) {
    const at::Tensor value = random_like_parameter(item.key(), item.value(), gen);
    if (item.key().rfind("mapping.", 0) == 0) {
      mapping.emplace_back(item.key(), value.to(options.dtype));
    } else {
      add(item.key(), value);
    }
    if (item.key() == "query") {
      // Present in the released checkpoint, unused at inference (loaders ignore them).
      add("vpm.beit3.text_embed.weight", at::empty({vision_config.vocab_size, width}).normal_(0.0, 0.5, gen));
      add("vpm.beit3.vision_embed.mask_token", at::empty({1, 1, width}).normal_(0.0, 0.5, gen));
    }
  }
  for (const auto& item : llm->named_parameters(/*recurse=*/true)) add("llm." + item.key(), item.value());
  for (auto& m : mapping) tensors.push_back(std::move(m));

  chat::ChatModelPaths paths;
  paths.checkpoint = dir / "viscpm_chat.pt";
  paths.cpm_bee_config = dir / "cpm-bee.json";
  paths.beit3_config = dir / "beit3.json";
  paths.vocabulary = dir / "vocab" / "bee.txt";
  io::save_torch_zip(paths.checkpoint, tensors);
  io::write_text_file(paths.cpm_bee_config, llm_config.to_json().dump(2) + "\n");
  io::write_text_file(paths.beit3_config, vision_config.to_json().dump(2) + "\n");
  io::write_text_file(paths.vocabulary, vocabulary);
  return paths;
}

std::vector<uint8_t> demo_image_rgb(int width, int height) {
  if (width <= 0 || height <= 0) throw InvalidArgument("demo image size must be positive");
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(255 * x / std::max(1, width - 1));
      p[1] = static_cast<uint8_t>(255 * y / std::max(1, height - 1));
      p[2] = static_cast<uint8_t>(((x / 8 + y / 8) % 2) * 200 + 28);
    }
  }
  return rgb;
}

}  // namespace viscpm::testkit
