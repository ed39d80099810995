// The C API's enums and option structs turned into the library's types, in one place
// (api_enums.cpp also holds every enum's names).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

#include "cpmbee/layers.h"
#include "decoding/decoding.h"
#include "viscpm.h"
#include "vision/image.h"

namespace viscpm::api {

// "cpu", "cuda", "cuda:N" -> a device this build can use (Unsupported otherwise).
at::Device parse_device(const char* device);
// viscpm_dtype -> the float dtype a viscpm_dtype asks for (nullopt: AUTO and INT8, the device's default).
std::optional<at::ScalarType> to_scalar_type(int32_t dtype);
// How CPM-Bee's matrices are stored (nullopt: AUTO, as the checkpoint stores them).
std::optional<cpmbee::WeightFormat> to_weight_format(int32_t dtype);
decoding::DecodingStrategy to_strategy(int32_t decoding);
vision::PixelFormat to_pixel_format(int32_t format);
// viscpm_scheduler -> the scheduler's canonical name.
std::string to_scheduler_name(int32_t scheduler);
// Model params as given, or the defaults when null.
viscpm_model_params params_or_default(const viscpm_model_params* params);

}  // namespace viscpm::api
