#include "api/api_common.h"

#include <ATen/Context.h>

#include <cstdio>
#include <mutex>

#include "common/error.h"
#include "kernels/ops.h"

namespace viscpm::api {

at::Device parse_device(const char* device) {
  std::string name = device && *device ? device : "cpu";
  if (name == "cpu") return at::Device(at::kCPU);
  if (name == "auto") {
    // CUDA when this build's LibTorch has it and a device answers; else the CPU, with one
    // line on stderr per process (the JVM side cannot catch a GPU it never saw).
    if (at::hasCUDA()) {
      if (!kernels::cuda_kernels_built()) {
        static std::once_flag plain_ops;
        std::call_once(plain_ops, [] {
          std::fprintf(stderr, "[viscpm] warning: device auto: CUDA found, but this libviscpm was built without "
                               "kernels/cuda (VISCPM_CUDA=OFF); LibTorch's own CUDA ops run instead\n");
        });
      }
      return at::Device(at::kCUDA, 0);
    }
    static std::once_flag warned;
    std::call_once(warned, [] {
      std::fprintf(stderr, "[viscpm] warning: device auto: no usable CUDA GPU (a CPU-only LibTorch, or no NVIDIA "
                           "driver, CUDA runtime or device found); running on the CPU\n");
    });
    return at::Device(at::kCPU);
  }
  if (name.rfind("cuda", 0) == 0) {
    if (!at::hasCUDA()) throw Unsupported("device '" + name + "' requested but no CUDA device is usable by this build");
    try {
      return at::Device(name);
    } catch (const c10::Error&) {
      throw InvalidArgument("bad device '" + name + "' (use cpu, cuda or cuda:N)");
    }
  }
  throw InvalidArgument("unknown device '" + name + "' (use cpu, cuda, cuda:N or auto)");
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
  p.low_memory = 0;
  return p;
}
