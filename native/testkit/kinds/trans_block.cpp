// Golden-case runner of kind "trans_block" (fixtures README): the trans block of the paint
// checkpoint applied to recorded CPM-Bee hidden states.
#include "diffusion/trans_block.h"
#include "io/tensor_source.h"
#include "testkit/parity/kinds.h"

namespace viscpm::parity {

void run_trans_block(const Case& c, Result& r) {
  const std::string prefix = c.params().value("checkpoint_prefix", std::string("trans_block."));
  const at::Device device = c.suite().device();
  auto block = c.suite().cached<diffusion::TransBlockImpl>(
      "diffusion.trans_block|" + c.checkpoint().string() + "|" + prefix + "|" + device.str(), [&] {
        diffusion::TransBlockOptions options;
        options.device = device;
        options.prefix = prefix;
        return diffusion::load_trans_block(*io::TensorSource::open(c.checkpoint()), options).ptr();
      });
  r.compare(c, "cond_out", block->forward(c.input("cond_hidden_states")).cpu());
  r.compare(c, "uncond_out", block->forward(c.input("uncond_hidden_states")).cpu());
}

}  // namespace viscpm::parity
