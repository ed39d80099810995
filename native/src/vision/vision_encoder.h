// The vision side of VisCPM-Chat as one module: BEiT-3 (`vpm.beit3.*`), the learned queries
// (`query`) and the mapping MLP into CPM-Bee's width (`mapping.0.*`, `mapping.2.*`).
// Parameter names equal the VisCPM-Chat checkpoint keys, so the whole chat checkpoint
// loads into it with prefix "" while the keys of other parts are ignored
// (kVisionIgnoredPrefixes: llm.*, the unused mim head, text embedding and mask token).
//
// Shapes, dtype and device are fixed at construction/load; forward calls only convert the
// input to them. Forward passes do not mutate the module: concurrent calls from several
// threads on one loaded encoder are safe (each runs under c10::InferenceMode).
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <filesystem>
#include <string>
#include <vector>

#include "vision/beit3.h"
#include "vision/beit3_config.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace viscpm::io { class TensorSource; }

namespace viscpm::vision {

// Checkpoint keys the vision encoder does not use.
extern const std::vector<std::string> kVisionIgnoredPrefixes;

// `vpm`: holds `beit3` (the wrapper's mim head is not needed at inference).
class VpmImpl : public viscpm::nn::Module {
 public:
  VpmImpl(const Beit3Config& config, const at::TensorOptions& options);
  const Beit3& beit3() const { return beit3_; }

 private:
  Beit3 beit3_{nullptr};
};
VISCPM_MODULE(Vpm);

// `mapping`: Linear(D -> out) at index 0, exact GELU at 1, Linear(out -> out) at 2.
class MappingImpl : public viscpm::nn::Module {
 public:
  MappingImpl(int64_t in_dim, int64_t out_dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  LinearLayer first_{nullptr}, second_{nullptr};
};
VISCPM_MODULE(Mapping);

class VisionEncoderImpl : public viscpm::nn::Module {
 public:
  // output_dim: CPM-Bee's dim_model (4096 for VisCPM-Chat). Parameters are allocated
  // uninitialised with `options` (dtype float32/float16/bfloat16, device) and must be loaded.
  VisionEncoderImpl(const Beit3Config& config, int64_t output_dim, const at::TensorOptions& options);

  // pixel_values [B, 3, S, S] (normalised, any float dtype/device) -> the encoder outputs of
  // the query tokens [B, query_num, encoder_embed_dim], in the parameter dtype.
  at::Tensor encode(const at::Tensor& pixel_values) const;
  // [B, query_num, encoder_embed_dim] -> [B, query_num, output_dim].
  at::Tensor map(const at::Tensor& query_outputs) const;
  // encode + map: the vision hidden states that replace the image placeholders.
  at::Tensor forward(const at::Tensor& pixel_values) const { return map(encode(pixel_values)); }
  // Decoded images -> preprocessing (Pillow-exact resize, normalisation) -> forward.
  at::Tensor embed_images(const std::vector<ImageView>& images) const;

  const Beit3Config& config() const { return config_; }
  const PreprocessConfig& preprocess_config() const { return preprocess_; }
  int64_t output_dim() const { return output_dim_; }
  at::ScalarType dtype() const { return options_.dtype().toScalarType(); }
  at::Device device() const { return options_.device(); }

 private:
  Beit3Config config_;
  PreprocessConfig preprocess_;
  int64_t output_dim_;
  at::TensorOptions options_;
  at::Tensor query_;
  Vpm vpm_{nullptr};
  Mapping mapping_{nullptr};
};
VISCPM_MODULE(VisionEncoder);

struct VisionEncoderOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // kHalf / kBFloat16 for the released fp16 setup
  int64_t output_dim = -1;            // <= 0: taken from the checkpoint's mapping.0.weight
};

// Builds the encoder and loads it strictly from a VisCPM-Chat checkpoint (torch zip or
// safetensors; weights converted to options.dtype). FormatError on missing keys / wrong
// shapes (naming the key), NotFound when the file is missing.
VisionEncoder load_vision_encoder(const io::TensorSource& checkpoint, const Beit3Config& config,
                                  const VisionEncoderOptions& options = {});
VisionEncoder load_vision_encoder(const std::filesystem::path& checkpoint, const Beit3Config& config,
                                  const VisionEncoderOptions& options = {});

}  // namespace viscpm::vision
