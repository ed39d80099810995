// Full-size smoke benchmark of the Stable Diffusion 2.1-base UNet and VAE decoder with
// random weights (the real configs from models/sd21-base, no checkpoint needed): one UNet
// step on the classifier-free-guidance batch (latents [2, 4, 64, 64], context
// [2, 77, 1024]) and one VAE decode of [1, 4, 64, 64] to a 512x512 image. Prints wall
// seconds and the peak resident set size, and writes the same lines to the result file.
//
// Build (after building libviscpm in build/sd with the diffusion component):
//   c++ -O3 -std=gnu++17 -D_GLIBCXX_USE_CXX11_ABI=1 -Inative/src \
//       -isystem ~/.cache/viscpm/torch-2.10.0/torch/include \
//       -isystem ~/.cache/viscpm/torch-2.10.0/torch/include/torch/csrc/api/include \
//       benchmarks/sd_fullsize.cpp -o build/sd/sd_fullsize \
//       -Wl,-rpath,$HOME/.cache/viscpm/bytedeco-2.10.0-1.5.13/lib:$PWD/build/sd build/sd/libviscpm.so \
//       ~/.cache/viscpm/bytedeco-2.10.0-1.5.13/lib/libtorch_cpu.so ~/.cache/viscpm/bytedeco-2.10.0-1.5.13/lib/libc10.so
// Run from the repository root:
//   build/sd/sd_fullsize [--dtype fp32|bf16] [--out benchmarks/results/sd_fullsize_cpu.txt]
#include <ATen/core/Tensor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/scalar_tensor.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "diffusion/unet.h"
#include "diffusion/vae.h"

using namespace viscpm::diffusion;

namespace {

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

// Random weights with a sane scale: norms at identity, everything else N(0, 0.02^2).
void randomize(viscpm::nn::Module& module, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& item : module.named_parameters()) {
    at::Tensor p = item.value();
    const std::string& name = item.key();
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_norm && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      p.fill_(1.0);
    } else if (is_norm) {
      p.zero_();
    } else {
      p.copy_(at::randn(p.sizes(), gen, at::kFloat) * 0.02);
    }
  }
}

template <class F>
double seconds(F&& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dtype_name = "fp32", out_path = "benchmarks/results/sd_fullsize_cpu.txt";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    if (arg == "--dtype") dtype_name = argv[i + 1];
    else if (arg == "--out") out_path = argv[i + 1];
  }
  const at::ScalarType dtype = dtype_name == "bf16" ? at::kBFloat16 : at::kFloat;
  c10::InferenceMode inference;
  std::ostringstream report;
  auto line = [&](const std::string& s) {
    std::cout << s << std::endl;
    report << s << "\n";
  };
  line("sd_fullsize: SD 2.1-base UNet + VAE decoder, random weights, dtype " + dtype_name + ", CPU threads " +
       std::to_string(at::get_num_threads()));

  UnetConfig unet_config = UnetConfig::from_file("models/sd21-base/unet/config.json");
  UnetOptions unet_options;
  unet_options.dtype = dtype;
  UnetModel unet(nullptr);
  double t_build = seconds([&] {
    unet = UnetModel(unet_config, unet_options);
    randomize(*unet, 1);
  });
  int64_t params = 0;
  for (const auto& p : unet->parameters()) params += p.numel();
  std::ostringstream s1;
  s1 << "unet: " << unet->parameters().size() << " tensors, " << params << " parameters; built in " << t_build
     << " s; peak RSS " << peak_rss_gib() << " GiB";
  line(s1.str());

  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  at::Tensor sample = at::randn({2, 4, 64, 64}, gen, at::kFloat);
  at::Tensor context = at::randn({2, 77, 1024}, gen, at::kFloat);
  at::Tensor noise;
  double t_unet = seconds([&] { noise = unet->forward(sample, at::scalar_tensor(981, at::kLong), context); });
  std::ostringstream s2;
  s2 << "unet step [2, 4, 64, 64] + context [2, 77, 1024]: " << t_unet << " s; output " << noise.sizes()
     << " finite=" << at::isfinite(noise).all().item<bool>() << "; peak RSS " << peak_rss_gib() << " GiB";
  line(s2.str());
  unet = UnetModel(nullptr);  // release 3.5 GB before the VAE

  VaeOptions vae_options;
  vae_options.dtype = dtype;
  VaeDecoder vae(VaeConfig::from_file("models/sd21-base/vae/config.json"), vae_options);
  randomize(*vae, 2);
  at::Tensor latents = at::randn({1, 4, 64, 64}, gen, at::kFloat);
  at::Tensor image;
  double t_vae = seconds([&] {
    image = VaeDecoderImpl::to_uint8(VaeDecoderImpl::to_image_float(vae->decode_latents(latents)));
  });
  std::ostringstream s3;
  s3 << "vae decode [1, 4, 64, 64] -> " << image.sizes() << " uint8: " << t_vae << " s; peak RSS " << peak_rss_gib()
     << " GiB (process peak so far)";
  line(s3.str());

  std::ofstream out(out_path);
  if (!out) {
    std::cerr << "cannot write " << out_path << std::endl;
    return 1;
  }
  out << report.str();
  return 0;
}
