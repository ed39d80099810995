// Golden-case runner of kind "vae_decode" (fixtures README): VAE decoder on latents divided
// by the scaling factor, then the reference's float and uint8 image conversion.
#include "diffusion/vae.h"
#include "testkit/parity/kinds.h"

namespace viscpm::parity {

void run_vae_decode(const Case& c, Result& r) {
  const auto& params = c.params();
  const std::string vae_dir = params.contains("vae_dir")
                                  ? params.at("vae_dir").get<std::string>()
                                  : c.suite().manifest().at("models").at("paint").at("vae_dir").get<std::string>();
  const at::Device device = c.suite().device();
  auto vae = c.suite().cached<diffusion::VaeDecoderImpl>("diffusion.vae|" + vae_dir + "|" + device.str(), [&] {
    diffusion::VaeOptions options;
    options.device = device;
    return diffusion::load_vae_decoder(c.suite().resolve(vae_dir), options).ptr();
  });

  at::Tensor latents = c.input("latents");
  at::Tensor sample;
  if (params.contains("scaling_factor")) {
    const float inverse = static_cast<float>(1.0 / params.at("scaling_factor").get<double>());
    sample = vae->decode(latents * inverse);
  } else {
    sample = vae->decode_latents(latents);
  }
  at::Tensor image = diffusion::VaeDecoderImpl::to_image_float(sample);
  r.compare(c, "decoder_sample", sample.cpu());
  r.compare(c, "image_float", image.cpu());
  r.compare(c, "image_uint8", diffusion::VaeDecoderImpl::to_uint8(image).cpu());
}

}  // namespace viscpm::parity
