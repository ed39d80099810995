#include "api/api_common.h"

#include <ATen/Parallel.h>

#include "common/error.h"

namespace viscpm::api {

at::Device parse_device(const char* device) {
  std::string name = device && *device ? device : "cpu";
  if (name == "cpu") return at::Device(at::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!at::hasCUDA()) throw Unsupported("device '" + name + "' requested but no CUDA device is usable by this build");
    try {
      return at::Device(name);
    } catch (const c10::Error&) {
      throw InvalidArgument("bad device '" + name + "' (use cpu, cuda or cuda:N)");
    }
  }
  throw InvalidArgument("unknown device '" + name + "' (use cpu, cuda or cuda:N)");
}

std::optional<at::ScalarType> parse_dtype(int32_t dtype) {
  switch (dtype) {
    case VISCPM_DTYPE_AUTO: return std::nullopt;
    case VISCPM_DTYPE_FLOAT32: return at::kFloat;
    case VISCPM_DTYPE_BFLOAT16: return at::kBFloat16;
    case VISCPM_DTYPE_FLOAT16: return at::kHalf;
    default: throw InvalidArgument("unknown dtype " + std::to_string(dtype));
  }
}

void apply_threads(const viscpm_model_params& params) {
  if (params.num_threads < 0) throw InvalidArgument("num_threads must be >= 0");
  if (params.num_threads > 0) at::set_num_threads(params.num_threads);
}

}  // namespace viscpm::api

extern "C" viscpm_model_params viscpm_model_default_params(void) {
  viscpm_model_params p;
  p.device = "cpu";
  p.dtype = VISCPM_DTYPE_AUTO;
  p.num_threads = 0;
  return p;
}
