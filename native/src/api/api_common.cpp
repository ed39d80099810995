#include "api/api_common.h"

#include <ATen/Context.h>

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

viscpm_model_params params_or_default(const viscpm_model_params* params) {
  return params ? *params : viscpm_model_default_params();
}

}  // namespace viscpm::api

extern "C" viscpm_model_params viscpm_model_default_params(void) {
  viscpm_model_params p;
  p.device = "cpu";
  p.dtype = VISCPM_DTYPE_AUTO;
  p.verify_checksums = 1;
  return p;
}
