// Full-size smoke benchmark of the Stable Diffusion 2.1-base UNet and VAE decoder with
// random weights (the real configs from models/sd21-base, no checkpoint needed): one UNet
// step on the classifier-free-guidance batch (latents [2, 4, 64, 64], context
// [2, 77, 1024]) and one VAE decode of [1, 4, 64, 64] to a 512x512 image. Prints wall
// seconds and the peak resident set size, and writes the same lines to the result file.
//
// Built with the other benchmarks (-DVISCPM_BUILD_BENCHMARKS=ON, into <build>/benchmarks).
// Run from the repository root:
//   <build>/benchmarks/sd_fullsize [--dtype fp32|bf16] [--out benchmarks/results/sd_fullsize_cpu.txt]
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

#include "bench_common.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"

using namespace viscpm::diffusion;

using bench::peak_rss_gib;
using bench::seconds;

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
    bench::randomize(*unet, 1);
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
  bench::randomize(*vae, 2);
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
