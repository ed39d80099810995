#include "cpmbee/layers.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/div.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/log.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/reciprocal.h>
#include <ATen/ops/where.h>

#include "kernels/ops.h"

#include <cmath>
#include <limits>

namespace viscpm::cpmbee {

// ---------------------------------------------------------------------------------------
at::Tensor ParamSpec::matrix(int64_t rows, int64_t cols) const {
  return at::empty({rows, cols}, int8() ? options().dtype(at::kChar) : options());
}

at::Tensor ParamSpec::matrix_scales(int64_t rows) const {
  return int8() ? at::empty({rows}, options().dtype(at::kFloat)) : at::Tensor();
}

namespace {
at::Tensor rows_of(const at::Tensor& t, int64_t begin, int64_t count) {
  return t.defined() ? t.narrow(0, begin, count) : at::Tensor();
}
}  // namespace

// ---------------------------------------------------------------------------------------
RmsNormImpl::RmsNormImpl(int64_t dim, double eps_, const ParamSpec& spec) : eps(eps_) {
  weight = register_parameter("weight", at::ones({dim}, spec.options()), /*requires_grad=*/false);
}

at::Tensor RmsNormImpl::forward(const at::Tensor& x) const { return kernels::rms_norm(x, weight, eps); }

// ---------------------------------------------------------------------------------------
ScaledLinearImpl::ScaledLinearImpl(at::Tensor weight_storage, bool scale_before_, at::Tensor scale_storage)
    : divisor(std::sqrt(static_cast<double>(weight_storage.size(1)))), scale_before(scale_before_) {
  weight = register_parameter("weight", std::move(weight_storage), /*requires_grad=*/false);
  if (scale_storage.defined())
    weight_scale = register_parameter("weight_scale", std::move(scale_storage), /*requires_grad=*/false);
}

void ScaledLinearImpl::rebind_weight(const at::Tensor& storage, const at::Tensor& scale_storage) {
  replace_parameter("weight", storage);
  weight = storage;
  if (scale_storage.defined()) {
    replace_parameter("weight_scale", scale_storage);
    weight_scale = scale_storage;
  }
}

at::Tensor ScaledLinearImpl::forward(const at::Tensor& x) const {
  if (scale_before) return kernels::linear_maybe_int8(at::div(x, divisor), weight, weight_scale);
  return kernels::linear_maybe_int8(x, weight, weight_scale).div_(divisor);
}

// ---------------------------------------------------------------------------------------
EmbeddingExtImpl::EmbeddingExtImpl(int64_t vocab_size, int64_t dim_, const ParamSpec& spec)
    : dim(dim_), divisor(std::sqrt(static_cast<double>(dim_))), dtype(spec.dtype) {
  weight = register_parameter("weight", spec.matrix(vocab_size, dim), /*requires_grad=*/false);
  if (spec.int8())
    weight_scale = register_parameter("weight_scale", spec.matrix_scales(vocab_size), /*requires_grad=*/false);
  // 1 / 10000^(2j/dim) evaluated in fp32, then cast (§4.3: float64 differs at one fp16 entry).
  at::Tensor exponent = at::arange(0, dim, 2, at::TensorOptions().dtype(at::kFloat)) / static_cast<double>(dim);
  at::Tensor table = at::reciprocal(at::pow(at::Scalar(10000.0), exponent));
  inv_freq = table.to(spec.options());
}

at::Tensor EmbeddingExtImpl::rotate(const at::Tensor& x, const at::Tensor& subs) const {
  const int64_t half = dim / 2;
  // p = r(16·sub), θ = r(p · inv_freq), then cos/sin rounded: all in the parameter dtype.
  at::Tensor position = subs.mul(kRotaryDistanceScale).to(x.scalar_type());
  at::Tensor theta = position.unsqueeze(-1) * inv_freq;  // [..., dim/2], shared by both halves
  at::Tensor c = theta.cos(), s = theta.sin();
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  // out = x·cos + rotate(x)·sin with rotate(x) = [-x2, x1] (negation is exact).
  at::Tensor out1 = at::mul(x1, c).sub_(at::mul(x2, s));
  at::Tensor out2 = at::mul(x2, c).add_(at::mul(x1, s));
  return at::cat({out1, out2}, -1);
}

at::Tensor EmbeddingExtImpl::rows(const at::Tensor& ids) const {
  if (!weight_scale.defined()) return at::embedding(weight, ids);
  // Dequantized in fp32 (int8 row times its scale), rounded once to the activation dtype.
  at::Tensor scales = at::embedding(weight_scale.unsqueeze(1), ids);
  return at::embedding(weight, ids).to(at::kFloat).mul_(scales).to(dtype);
}

at::Tensor EmbeddingExtImpl::forward(const at::Tensor& ids, const at::Tensor& subs) const {
  at::Tensor e = rows(ids).div_(divisor);
  if (e.numel() == 0 || !subs.ne(0).any().item<bool>()) return e;  // sub 0 is the identity
  return rotate(e, subs);
}

at::Tensor EmbeddingExtImpl::forward_rotating(const at::Tensor& ids, const at::Tensor& subs) const {
  return rotate(rows(ids).div_(divisor), subs);
}

at::Tensor EmbeddingExtImpl::projection(const at::Tensor& h, const at::Tensor& ext_rows) const {
  at::Tensor logits = kernels::linear_maybe_int8(at::div(h, divisor), weight, weight_scale);
  if (!ext_rows.defined() || ext_rows.size(0) == 0) return logits;
  // Ext rows already hold the 1/sqrt(dim) scaling: h is used undivided (§4.4).
  return at::cat({logits, kernels::linear(h, ext_rows)}, -1);
}

// ---------------------------------------------------------------------------------------
BucketPositionBiasImpl::BucketPositionBiasImpl(const CpmBeeConfig& config, const ParamSpec& spec)
    : num_buckets(config.position_bias_num_buckets), max_distance(config.position_bias_max_distance) {
  relative_attention_bias = register_parameter(
      "relative_attention_bias", at::empty({config.bias_rows(), config.num_heads}, spec.options()),
      /*requires_grad=*/false);
  // b(a) for a = 0..max_distance, evaluated like the reference (fp32 log, truncation);
  // every a >= max_distance lands on the cap, so larger distances clamp to the last entry.
  const int64_t half = num_buckets / 2, max_exact = half / 2;
  at::Tensor a = at::arange(max_distance + 1, at::TensorOptions().dtype(at::kInt));
  at::Tensor large = (at::log(a.to(at::kFloat) / max_exact) /
                      std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                      (half - max_exact))
                         .to(at::kInt)
                         .add_(max_exact)
                         .clamp_max_(half - 1);
  distance_buckets = at::where(a < max_exact, a, large).to(at::kLong).to(spec.device);
}

at::Tensor BucketPositionBiasImpl::position_bucket(const at::Tensor& relative_position) const {
  at::Tensor direction = relative_position.gt(0).to(at::kLong).mul_(num_buckets / 2);
  at::Tensor distance = relative_position.abs().clamp_max_(max_distance);
  return at::index_select(distance_buckets, 0, distance.reshape(-1)).view(distance.sizes()).add_(direction);
}

at::Tensor BucketPositionBiasImpl::bucket(const at::Tensor& segment_bucket,
                                          const at::Tensor& relative_position) const {
  return at::where(segment_bucket.eq(0), position_bucket(relative_position),
                   segment_bucket + (num_buckets - 1));
}

at::Tensor BucketPositionBiasImpl::bias(const at::Tensor& buckets) const {
  // [B, Lq, T, H] -> [B, H, Lq, T]
  return at::embedding(relative_attention_bias, buckets).permute({0, 3, 1, 2}).contiguous();
}

// ---------------------------------------------------------------------------------------
AttentionImpl::AttentionImpl(const CpmBeeConfig& config, const ParamSpec& spec)
    : num_heads(config.num_heads),
      dim_head(config.dim_head),
      qkv_divisor(std::sqrt(static_cast<double>(config.dim_model))),
      score_divisor(std::sqrt(static_cast<double>(config.dim_head))) {
  const int64_t width = config.attention_width();
  qkv_weight = spec.matrix(3 * width, config.dim_model);
  qkv_scale = spec.matrix_scales(3 * width);
  auto part = [&](int64_t i) {
    return ScaledLinear(qkv_weight.narrow(0, i * width, width), false, rows_of(qkv_scale, i * width, width));
  };
  project_q = register_module("project_q", part(0));
  project_k = register_module("project_k", part(1));
  project_v = register_module("project_v", part(2));
  attention_out = register_module("attention_out", ScaledLinear(spec.matrix(config.dim_model, width), false,
                                                                spec.matrix_scales(config.dim_model)));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const AttentionPlan& plan, const LayerKv& kv) const {
  const int64_t batch = x.size(0), len = x.size(1), width = num_heads * dim_head;
  // One GEMM for q, k, v; each is rounded, then divided by sqrt(dim_model) (§4.5 step 1).
  at::Tensor qkv = kernels::linear_maybe_int8(x, qkv_weight, qkv_scale).div_(qkv_divisor);
  auto heads = [&](int64_t i) {  // [B, L, H·dh] slice -> [B, H, L, dh], head-major features
    return qkv.narrow(-1, i * width, width).view({batch, len, num_heads, dim_head}).transpose(1, 2);
  };
  at::Tensor q = heads(0), k = heads(1), v = heads(2);
  at::Tensor keys = k, values = v;
  if (kv.k.defined()) {
    const int64_t total = plan.cache_offset + len;
    kv.k.narrow(2, plan.cache_offset, len).copy_(k);  // broadcasts a shared prompt into every row
    kv.v.narrow(2, plan.cache_offset, len).copy_(v);
    keys = kv.k.narrow(0, 0, batch).narrow(2, 0, total);
    values = kv.v.narrow(0, 0, batch).narrow(2, 0, total);
  }
  const kernels::CpmBeeMask mask{plan.bias, plan.blocked, plan.has_empty_rows};
  at::Tensor out = len == 1 ? kernels::cpmbee_attention_decode(q, keys, values, mask, score_divisor)
                            : kernels::cpmbee_attention_prefill(q, keys, values, mask, score_divisor);
  return attention_out->forward(out);
}

// ---------------------------------------------------------------------------------------
DenseGatedActImpl::DenseGatedActImpl(int64_t dim_in, int64_t dim_ff_, const ParamSpec& spec)
    : dim_ff(dim_ff_), divisor(std::sqrt(static_cast<double>(dim_in))) {
  fused_weight = spec.matrix(2 * dim_ff, dim_in);
  fused_scale = spec.matrix_scales(2 * dim_ff);
  w_0 = register_module("w_0", ScaledLinear(fused_weight.narrow(0, 0, dim_ff), false, rows_of(fused_scale, 0, dim_ff)));
  w_1 = register_module("w_1", ScaledLinear(fused_weight.narrow(0, dim_ff, dim_ff), false,
                                            rows_of(fused_scale, dim_ff, dim_ff)));
}

at::Tensor DenseGatedActImpl::forward(const at::Tensor& x) const {
  return kernels::gated_gelu(x, fused_weight, divisor, fused_scale);
}

FeedForwardImpl::FeedForwardImpl(const CpmBeeConfig& config, const ParamSpec& spec) {
  w_in = register_module("w_in", DenseGatedAct(config.dim_model, config.dim_ff, spec));
  w_out = register_module("w_out", ScaledLinear(spec.matrix(config.dim_model, config.dim_ff), /*scale_before=*/true,
                                                spec.matrix_scales(config.dim_model)));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) const {
  at::Tensor m = w_in->forward(x);
  // w_out divides its input by sqrt(dim_ff) before the GEMM (§4.6 step 4); m is ours to modify.
  return kernels::linear_maybe_int8(m.div_(w_out->divisor), w_out->weight, w_out->weight_scale);
}

// ---------------------------------------------------------------------------------------
SelfAttentionBlockImpl::SelfAttentionBlockImpl(const CpmBeeConfig& config, const ParamSpec& spec) {
  layernorm_before_attention = register_module("layernorm_before_attention", RmsNorm(config.dim_model, config.eps, spec));
  self_attention = register_module("self_attention", Attention(config, spec));
}

void SelfAttentionBlockImpl::forward_(at::Tensor& h, const AttentionPlan& plan, const LayerKv& kv) const {
  at::Tensor a = self_attention->forward(layernorm_before_attention->forward(h), plan, kv);
  kernels::scaled_residual_add_(h, a, kResidualScale);  // sum rounded, then the division (§4.7)
}

FfnBlockImpl::FfnBlockImpl(const CpmBeeConfig& config, const ParamSpec& spec) {
  layernorm_before_ffn = register_module("layernorm_before_ffn", RmsNorm(config.dim_model, config.eps, spec));
  ffn = register_module("ffn", FeedForward(config, spec));
}

void FfnBlockImpl::forward_(at::Tensor& h) const {
  at::Tensor f = ffn->forward(layernorm_before_ffn->forward(h));
  kernels::scaled_residual_add_(h, f, kResidualScale);
}

TransformerBlockImpl::TransformerBlockImpl(const CpmBeeConfig& config, const ParamSpec& spec) {
  self_att = register_module("self_att", SelfAttentionBlock(config, spec));
  ffn = register_module("ffn", FfnBlock(config, spec));
}

void TransformerBlockImpl::forward_(at::Tensor& h, const AttentionPlan& plan, const LayerKv& kv) const {
  self_att->forward_(h, plan, kv);
  ffn->forward_(h);
}

EncoderImpl::EncoderImpl(const CpmBeeConfig& config, const ParamSpec& spec) {
  // "layers.<i>" as torch.nn.ModuleList names them.
  auto layers = register_module("layers", std::make_shared<viscpm::nn::Module>());
  for (int64_t i = 0; i < config.num_layers; ++i) {
    blocks.emplace_back(config, spec);
    layers->register_module(std::to_string(i), blocks.back());
  }
  output_layernorm = register_module("output_layernorm", RmsNorm(config.dim_model, config.eps, spec));
}

}  // namespace viscpm::cpmbee
