// One UNet step with classifier-free guidance (batch 2) on the CPU, random weights, at each
// requested thread count: the native side of the reference comparison in
// benchmarks/reference/unet_step.py (same config file, same shapes).
//
//   <build>/benchmarks/unet_step_bench --config benchmarks/configs/unet_mid.json --latent 32
//       --context 77 --threads 1,2 --repeats 5 [--dtype fp32|bf16] [--profile 1]
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/scalar_tensor.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "common/runtime.h"
#include "diffusion/unet.h"

using namespace viscpm::diffusion;

int main(int argc, char** argv) {
  std::string config_path = "benchmarks/configs/unet_mid.json", dtype_name = "fp32", threads_list = "1,2";
  int latent = 32, context_len = 77, repeats = 5;
  bool profile = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--config") config_path = value;
    else if (arg == "--dtype") dtype_name = value;
    else if (arg == "--threads") threads_list = value;
    else if (arg == "--latent") latent = std::stoi(value);
    else if (arg == "--context") context_len = std::stoi(value);
    else if (arg == "--repeats") repeats = std::stoi(value);
    else if (arg == "--profile") profile = value == "1";
    else { std::fprintf(stderr, "unknown option %s\n", arg.c_str()); return 2; }
  }
  c10::InferenceMode inference;
  UnetConfig config = UnetConfig::from_file(config_path);
  UnetOptions options;
  options.dtype = dtype_name == "bf16" ? at::kBFloat16 : at::kFloat;
  UnetModel unet(config, options);
  bench::randomize(*unet, 1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  at::Tensor sample = at::randn({2, config.in_channels, latent, latent}, gen, at::kFloat);
  at::Tensor context = at::randn({2, context_len, config.cross_attention_dim}, gen, at::kFloat);
  at::Tensor timestep = at::scalar_tensor(981, at::kLong);
  std::stringstream list(threads_list);
  for (std::string item; std::getline(list, item, ',');) {
    int threads = viscpm::runtime::set_num_threads(std::stoi(item));
    auto t = bench::time_repeats(repeats, [&] { unet->forward(sample, timestep, context); });
    std::printf("native unet step %s latent %d dtype %s threads %d: min %.3f s median %.3f s\n", config_path.c_str(),
                latent, dtype_name.c_str(), threads, t.min, t.median);
    if (profile) {
      bench::OpProfile ops;
      const double total = bench::seconds([&] { unet->forward(sample, timestep, context); });
      ops.print(total);
    }
    std::fflush(stdout);
  }
  return 0;
}
