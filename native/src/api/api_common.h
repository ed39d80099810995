// Helpers shared by the C API's model entry points.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>

#include "viscpm.h"

namespace viscpm::api {

// "cpu", "cuda", "cuda:N" -> a device this build can use (Unsupported otherwise).
at::Device parse_device(const char* device);
// viscpm_dtype -> scalar type; nullopt for AUTO.
std::optional<at::ScalarType> parse_dtype(int32_t dtype);
// Applies num_threads of the params (0 leaves the default).
void apply_threads(const viscpm_model_params& params);

}  // namespace viscpm::api
