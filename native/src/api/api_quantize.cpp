// viscpm_quantize_model: pipelines::quantize_model_directory behind the C API.
#include "api/api_common.h"
#include "api/guard.h"
#include "pipelines/quantize.h"

using namespace viscpm;
using namespace viscpm::api;

extern "C" {

viscpm_status viscpm_quantize_model(const char* model_dir, const char* out_dir, int32_t dtype,
                                    viscpm_progress_callback on_tensor, void* user_data, int64_t* bytes_before_out,
                                    int64_t* bytes_after_out) {
  return guarded([&] {
    if (!model_dir || !*model_dir) throw InvalidArgument("model directory is empty");
    if (!out_dir || !*out_dir) throw InvalidArgument("output directory is empty");
    if (to_weight_format(dtype) != cpmbee::WeightFormat::kInt8)
      throw InvalidArgument(std::string("quantize: the only target is int8, not ") + viscpm_dtype_name(dtype));
    std::function<bool(int64_t, int64_t)> progress;
    if (on_tensor)
      progress = [&](int64_t done, int64_t total) {
        return on_tensor(static_cast<int32_t>(done), static_cast<int32_t>(total), user_data) == 0;
      };
    const auto report = pipelines::quantize_model_directory(model_dir, out_dir, cpmbee::WeightFormat::kInt8, progress);
    if (bytes_before_out) *bytes_before_out = static_cast<int64_t>(report.bytes_before);
    if (bytes_after_out) *bytes_after_out = static_cast<int64_t>(report.bytes_after);
  });
}

}  // extern "C"
