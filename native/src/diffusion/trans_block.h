// VisCPM-Paint's trans block (CPMBeeTransBlock): maps CPM-Bee final hidden states to the
// UNet's cross-attention width, y = LayerNorm_1e-6(h W^T) with W [dim_out, dim_model]
// (no bias). Checkpoint keys "trans_block.w_out_res.weight", "trans_block.layernorm.{weight,bias}".
// Sizes come from the checkpoint; forward() is const and thread-safe.
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <string>

#include "diffusion/layers.h"

namespace viscpm::io { class TensorSource; }

namespace viscpm::diffusion {

class TransBlockImpl : public viscpm::nn::Module {
 public:
  TransBlockImpl(int64_t dim_model, int64_t dim_out, const at::TensorOptions& options);
  // hidden [..., dim_model] (e.g. fp16 CPM-Bee output) is cast to the block's dtype/device
  // first, as the reference does; returns [..., dim_out]. Wrong width: InvalidArgument.
  at::Tensor forward(const at::Tensor& hidden) const;

  int64_t dim_model() const { return w_out_res_->in_features(); }
  int64_t dim_out() const { return w_out_res_->out_features(); }

 private:
  Linear w_out_res_{nullptr};
  LayerNorm layernorm_{nullptr};
};
VISCPM_MODULE(TransBlock);

struct TransBlockOptions {
  at::ScalarType dtype = at::kFloat;  // reference: fp32
  at::Device device = at::kCPU;
  std::string prefix = "trans_block.";
};

// Sizes are read from `<prefix>w_out_res.weight`; loading is strict.
TransBlock load_trans_block(const io::TensorSource& weights, const TransBlockOptions& options = {});

}  // namespace viscpm::diffusion
