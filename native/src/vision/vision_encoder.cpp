#include "vision/vision_encoder.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/empty.h>

#include "common/error.h"
#include "io/tensor_source.h"

namespace viscpm::vision {

const std::vector<std::string> kVisionIgnoredPrefixes = {
    "llm.",                               // CPM-Bee, loaded by its own module
    "vpm.mim_head.",                      // masked-image-modelling head of the wrapper
    "vpm.beit3.text_embed.",              // text embedding: only initialises `query` in training
    "vpm.beit3.vision_embed.mask_token",  // only for masked patches
};

VpmImpl::VpmImpl(const Beit3Config& config, const at::TensorOptions& options) {
  beit3_ = register_module("beit3", Beit3(config, options));
}

MappingImpl::MappingImpl(int64_t in_dim, int64_t out_dim, const at::TensorOptions& options) {
  first_ = register_module("0", LinearLayer(in_dim, out_dim, options));
  second_ = register_module("2", LinearLayer(out_dim, out_dim, options));
}

at::Tensor MappingImpl::forward(const at::Tensor& x) const {
  return second_->forward(gelu_fp32(first_->forward(x)));
}

VisionEncoderImpl::VisionEncoderImpl(const Beit3Config& config, int64_t output_dim, const at::TensorOptions& options)
    : config_(config), preprocess_(PreprocessConfig::from(config)), output_dim_(output_dim), options_(options) {
  config_.validate("vision encoder config");
  if (output_dim <= 0) throw InvalidArgument("vision encoder output_dim must be positive, got " + std::to_string(output_dim));
  const auto dtype = options.dtype().toScalarType();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16) {
    throw Unsupported(std::string("vision encoder dtype must be float32, float16 or bfloat16, got ") + c10::toString(dtype));
  }
  query_ = register_parameter("query", at::empty({config.query_num, config.encoder_embed_dim}, options), false);
  vpm_ = register_module("vpm", Vpm(config, options));
  mapping_ = register_module("mapping", Mapping(config.encoder_embed_dim, output_dim, options));
}

at::Tensor VisionEncoderImpl::encode(const at::Tensor& pixel_values) const {
  const int64_t s = config_.img_size;
  if (!pixel_values.defined() || pixel_values.dim() != 4 || pixel_values.size(1) != config_.in_chans ||
      pixel_values.size(2) != s || pixel_values.size(3) != s || pixel_values.size(0) == 0) {
    throw InvalidArgument("pixel_values must be [batch, " + std::to_string(config_.in_chans) + ", " + std::to_string(s) +
                          ", " + std::to_string(s) + "] with batch >= 1, got " +
                          (pixel_values.defined() ? c10::str(pixel_values.sizes()) : std::string("undefined")));
  }
  if (!at::isFloatingType(pixel_values.scalar_type())) {
    throw InvalidArgument("pixel_values must be floating point (normalised pixels)");
  }
  c10::InferenceMode guard;
  return vpm_->beit3()->forward(pixel_values.to(options_.device(), dtype()), query_);
}

at::Tensor VisionEncoderImpl::map(const at::Tensor& query_outputs) const {
  if (!query_outputs.defined() || query_outputs.size(-1) != config_.encoder_embed_dim) {
    throw InvalidArgument("mapping input must end in encoder_embed_dim = " + std::to_string(config_.encoder_embed_dim));
  }
  c10::InferenceMode guard;
  return mapping_->forward(query_outputs.to(options_.device(), dtype()));
}

at::Tensor VisionEncoderImpl::embed_images(const std::vector<ImageView>& images) const {
  if (images.empty()) throw InvalidArgument("embed_images needs at least one image");
  return forward(preprocess_images(images, preprocess_, at::kFloat));
}

VisionEncoder load_vision_encoder(const io::TensorSource& checkpoint, const Beit3Config& config,
                                  const VisionEncoderOptions& options) {
  int64_t output_dim = options.output_dim;
  if (output_dim <= 0) {
    const auto* mapping = checkpoint.find("mapping.0.weight");
    if (mapping == nullptr || mapping->shape.size() != 2) {
      throw FormatError(checkpoint.path().string() + ": no 2-D 'mapping.0.weight' to size the vision mapping from");
    }
    output_dim = mapping->shape[0];
  }
  VisionEncoder encoder(config, output_dim, at::TensorOptions().dtype(options.dtype).device(options.device));
  io::LoadOptions load;
  load.prefix = "";
  load.ignored_prefixes = kVisionIgnoredPrefixes;
  io::load_module(*encoder, checkpoint, load);
  return encoder;
}

VisionEncoder load_vision_encoder(const std::filesystem::path& checkpoint, const Beit3Config& config,
                                  const VisionEncoderOptions& options) {
  auto source = io::TensorSource::open(checkpoint);
  return load_vision_encoder(*source, config, options);
}

}  // namespace viscpm::vision
