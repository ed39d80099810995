// Golden-case runner of kind "unet_forward" (fixtures README): one UNet call on the
// classifier-free-guidance batch (row 0 unconditional, row 1 conditional) and the guidance
// combination u + g (c - u).
#include "diffusion/unet.h"
#include "io/tensor_source.h"
#include "testkit/parity/kinds.h"

namespace viscpm::parity {

void run_unet_forward(const Case& c, Result& r) {
  const auto& params = c.params();
  const std::string config_path = params.contains("unet_config")
                                      ? params.at("unet_config").get<std::string>()
                                      : c.suite().manifest().at("models").at("paint").at("unet_config").get<std::string>();
  const std::string prefix = params.value("checkpoint_prefix", std::string("unet."));
  const at::Device device = c.suite().device();
  auto unet = c.suite().cached<diffusion::UnetModelImpl>(
      "diffusion.unet|" + config_path + "|" + c.checkpoint().string() + "|" + prefix + "|" + device.str(), [&] {
        diffusion::UnetLoadOptions options;
        options.model.device = device;
        options.prefix = prefix;
        auto source = io::TensorSource::open(c.checkpoint());
        return diffusion::load_unet(diffusion::UnetConfig::from_file(c.suite().resolve(config_path)), *source, options)
            .ptr();
      });

  at::Tensor noise = unet->forward(c.input("latent_model_input"), c.input("timestep"),
                                   c.input("encoder_hidden_states"));
  r.compare(c, "noise_pred", noise.cpu());

  // Same expression and order as the reference pipeline (fp32).
  const double guidance = params.value("guidance_scale", 7.5);
  const int64_t half = noise.size(0) / 2;
  at::Tensor uncond = noise.narrow(0, 0, half), cond = noise.narrow(0, half, half);
  r.compare(c, "guided_noise_pred", (uncond + guidance * (cond - uncond)).cpu());
}

}  // namespace viscpm::parity
