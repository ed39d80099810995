// Image -> model input, exactly as the reference transform: PIL resize((W, H), BICUBIC) on
// the 8-bit RGB image (no aspect ratio kept, no crop), then ToTensor (/255) and Normalize
// (mean, std) in float32. The resize reproduces Pillow's fixed-point two-pass resampler bit
// for bit (spec beit3.md §1.1), so the model sees the same uint8 pixels as the reference.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "vision/image.h"

namespace viscpm::vision {

struct Beit3Config;

struct PreprocessConfig {
  int width = 224;
  int height = 224;
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f};  // per channel R, G, B
  std::array<float, 3> std{0.5f, 0.5f, 0.5f};

  // img_size x img_size with the config's image_mean / image_std.
  static PreprocessConfig from(const Beit3Config& config);
  void validate() const;  // InvalidArgument on non-positive sizes or std
};

// Pillow's Image.resize((out_width, out_height), Image.BICUBIC) on an 8-bit RGB image:
// horizontal pass first, each pass rounding to uint8. Returns tightly packed RGB rows
// (out_height * out_width * 3 bytes); alpha is ignored. Same size: a plain RGB copy.
std::vector<uint8_t> resize_bicubic_pillow(const ImageView& image, int out_width, int out_height);

// [3, height, width] on the CPU in `dtype` (float32 by default; float16/bfloat16 round the
// float32 value once). Values: (k/255 - mean[c]) / std[c] for the resized 8-bit sample k.
at::Tensor preprocess_image(const ImageView& image, const PreprocessConfig& config = {},
                            at::ScalarType dtype = at::kFloat);

// [N, 3, height, width] for several images (each resized independently).
at::Tensor preprocess_images(const std::vector<ImageView>& images, const PreprocessConfig& config = {},
                             at::ScalarType dtype = at::kFloat);

}  // namespace viscpm::vision
