#include <atomic>
#include <cmath>
#include <cstring>

#include "api/api_common.h"
#include "api/guard.h"
#include "pipelines/paint/paint_model.h"

struct viscpm_paint_model {
  std::shared_ptr<viscpm::paint::PaintModel> model;
};

using namespace viscpm::api;
namespace paint = viscpm::paint;

namespace {

paint::PaintRequest to_request(const viscpm_paint_params& p) {
  paint::PaintRequest r;
  if (!p.prompt) throw viscpm::InvalidArgument("prompt is null");
  r.prompt = p.prompt;
  r.negative_prompt = p.negative_prompt ? p.negative_prompt : "";
  r.scheduler = to_scheduler_name(p.scheduler);
  r.width = p.width;
  r.height = p.height;
  r.num_inference_steps = p.steps;
  r.guidance_scale = p.guidance_scale;
  r.num_images = p.num_images;
  r.eta = p.eta;
  if (p.has_seed) r.seed = p.seed;
  return r;
}

}  // namespace

extern "C" {

viscpm_paint_params viscpm_paint_default_params(void) {
  const paint::PaintRequest d;
  viscpm_paint_params p;
  std::memset(&p, 0, sizeof(p));
  p.prompt = "";
  p.negative_prompt = "";
  p.scheduler = VISCPM_SCHEDULER_DDPM;
  p.width = static_cast<int32_t>(d.width);
  p.height = static_cast<int32_t>(d.height);
  p.steps = static_cast<int32_t>(d.num_inference_steps);
  p.guidance_scale = static_cast<float>(d.guidance_scale);
  p.num_images = static_cast<int32_t>(d.num_images);
  p.eta = static_cast<float>(d.eta);
  p.seed = 0;
  p.has_seed = 0;
  return p;
}

viscpm_status viscpm_paint_model_load(const char* model_dir, const char* checkpoint, const char* vocabulary,
                                      const viscpm_model_params* params, viscpm_paint_model** out) {
  return guarded([&] {
    if (!out) throw viscpm::InvalidArgument("output handle pointer is null");
    *out = nullptr;
    if (!model_dir || !*model_dir) throw viscpm::InvalidArgument("model directory is empty");
    paint::PaintModelPaths given;
    if (checkpoint && *checkpoint) given.checkpoint = checkpoint;
    if (vocabulary && *vocabulary) given.vocabulary = vocabulary;
    auto paths = paint::PaintModelPaths::from_directory(model_dir, given);
    paths.check_exist();
    const viscpm_model_params p = params_or_default(params);
    paint::PaintModelOptions options;
    options.device = parse_device(p.device);
    options.llm_dtype = to_scalar_type(p.dtype);
    options.llm_matrices = to_weight_format(p.dtype);
    options.verify_checksums = p.verify_checksums != 0;
    options.low_memory = p.low_memory != 0;
    if (p.dtype == VISCPM_DTYPE_BFLOAT16 || p.dtype == VISCPM_DTYPE_FLOAT16) options.diffusion_dtype = *options.llm_dtype;
    auto handle = std::make_unique<viscpm_paint_model>();
    handle->model = paint::PaintModel::load(paths, options);
    *out = handle.release();
  });
}

void viscpm_paint_model_free(viscpm_paint_model* model) { delete model; }

int32_t viscpm_paint_size_multiple(const viscpm_paint_model* model) {
  return model ? static_cast<int32_t>(model->model->size_multiple()) : 0;
}

int32_t viscpm_paint_default_size(const viscpm_paint_model* model) {
  return model ? static_cast<int32_t>(model->model->default_image_size()) : 0;
}

viscpm_status viscpm_paint_generate(const viscpm_paint_model* model, const viscpm_paint_params* params,
                                    viscpm_progress_callback on_step, void* user_data, uint8_t* dst, int64_t capacity,
                                    uint64_t* seed_out) {
  return guarded([&] {
    const auto& m = *require(model, "paint model").model;
    if (!params) throw viscpm::InvalidArgument("paint parameters are null");
    auto request = to_request(*params);
    int64_t w = request.width ? request.width : m.default_image_size();
    int64_t h = request.height ? request.height : m.default_image_size();
    if (request.num_images < 1) throw viscpm::InvalidArgument("num_images must be >= 1");
    int64_t needed = request.num_images * w * h * 3;
    if (w > 0 && h > 0 && (capacity < needed || !dst))
      throw viscpm::InvalidArgument("output buffer holds " + std::to_string(capacity) + " bytes; " +
                                    std::to_string(needed) + " needed for " + std::to_string(request.num_images) +
                                    " image(s) of " + std::to_string(w) + "x" + std::to_string(h));
    std::atomic<bool> cancel{false};
    paint::PaintCallbacks callbacks;
    callbacks.cancel = &cancel;
    if (on_step) {
      callbacks.on_step = [&](int64_t step, int64_t total) {
        return on_step(static_cast<int32_t>(step), static_cast<int32_t>(total), user_data) == 0;
      };
    }
    auto result = m.generate(request, callbacks);
    auto images = result.images.contiguous();
    if (images.numel() != needed)
      throw viscpm::Error(viscpm::ErrorCode::kInternal, "painted " + std::to_string(images.numel()) +
                                                            " bytes, expected " + std::to_string(needed));
    std::memcpy(dst, images.data_ptr<uint8_t>(), static_cast<size_t>(needed));
    if (seed_out) *seed_out = result.seed;
  });
}

}  // extern "C"
