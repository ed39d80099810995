#include "diffusion/trans_block.h"

#include <c10/core/InferenceMode.h>

#include "common/error.h"
#include "io/tensor_source.h"

namespace viscpm::diffusion {

TransBlockImpl::TransBlockImpl(int64_t dim_model, int64_t dim_out, const at::TensorOptions& options) {
  w_out_res_ = register_module("w_out_res", Linear(dim_model, dim_out, /*with_bias=*/false, options));
  layernorm_ = register_module("layernorm", LayerNorm(dim_out, 1e-6, options));
}

at::Tensor TransBlockImpl::forward(const at::Tensor& hidden) const {
  c10::InferenceMode inference;
  if (!hidden.defined() || hidden.dim() < 1 || hidden.size(-1) != dim_model())
    throw InvalidArgument("trans block input must have " + std::to_string(dim_model()) +
                          " (CPM-Bee dim_model) features in its last dimension");
  const at::Tensor& w = w_out_res_->weight();
  return layernorm_->forward(w_out_res_->forward(hidden.to(w.device(), w.scalar_type())));
}

TransBlock load_trans_block(const io::TensorSource& weights, const TransBlockOptions& options) {
  c10::InferenceMode inference;
  const io::TensorEntry* w = weights.find(options.prefix + "w_out_res.weight");
  if (!w) throw FormatError(weights.path().string() + ": no '" + options.prefix + "w_out_res.weight' (trans block)");
  if (w->shape.size() != 2) throw FormatError(weights.path().string() + ": '" + w->name + "' must be 2-D");
  TransBlock block(w->shape[1], w->shape[0], at::TensorOptions().dtype(options.dtype).device(options.device));
  io::LoadOptions load;
  load.prefix = options.prefix;
  io::load_module(*block, weights, load);
  return block;
}

}  // namespace viscpm::diffusion
