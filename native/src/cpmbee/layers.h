// CPM-Bee building blocks as viscpm::nn::Modules whose parameter names mirror the
// checkpoint keys under "llm." (cpmbee.md §3), so io::load_module loads them strictly.
//
// Weights that are applied to the same input (project_q/k/v; w_in.w_0/w_1) live in one
// fused [rows, in] tensor per layer; the named parameters are row-views of it, so loading
// writes straight into the fused storage and one GEMM serves all of them. Parameters are
// created in the requested dtype on the requested device (never fp32 first) and are not
// meant to be moved with Module::to().
#pragma once

#include "cpmbee/config.h"

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <cstdint>

namespace viscpm::cpmbee {

// How the weight matrices (the linear layers and the tied embedding) are stored: in the
// parameter dtype, or as int8 rows with one float32 scale per row, "<name>_scale"
// (kernels::quantize_int8_rows). Norms and the position-bias table keep the parameter
// dtype, which is also the activation dtype.
enum class WeightFormat { kDense, kInt8 };

struct ParamSpec {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
  WeightFormat matrices = WeightFormat::kDense;
  at::TensorOptions options() const { return at::TensorOptions().dtype(dtype).device(device); }
  bool int8() const { return matrices == WeightFormat::kInt8; }
  // A weight matrix [rows, cols] and its row scales (undefined when dense).
  at::Tensor matrix(int64_t rows, int64_t cols) const;
  at::Tensor matrix_scales(int64_t rows) const;
};

// RMSNorm ("LayerNorm" in the reference): parameter "weight" [dim].
class RmsNormImpl : public viscpm::nn::Module {
 public:
  RmsNormImpl(int64_t dim, double eps, const ParamSpec& spec);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;
  double eps;
};
VISCPM_MODULE(RmsNorm);

// Bias-free linear map y = x·Wᵀ with the CPM-Bee 1/sqrt(in) scaling (§4.1); parameter
// "weight" [out, in] (and "weight_scale" [out] for int8 weights). Both may be views into
// fused tensors owned by the parent.
class ScaledLinearImpl : public viscpm::nn::Module {
 public:
  ScaledLinearImpl(at::Tensor weight_storage, bool scale_before, at::Tensor scale_storage = {});
  at::Tensor forward(const at::Tensor& x) const;
  // Points the parameters at other tensors of the same shapes (fused storage).
  void rebind_weight(const at::Tensor& storage, const at::Tensor& scale_storage = {});
  at::Tensor weight;
  at::Tensor weight_scale;  // int8 weights only
  double divisor;      // sqrt(in_features)
  bool scale_before;   // w_out divides its input, every other layer its output
};
VISCPM_MODULE(ScaledLinear);

// Token embedding with the rotary sub-id transform (EmbeddingExt, §4.3) and the tied
// output projection (§4.4); parameter "weight" [vocab, dim].
class EmbeddingExtImpl : public viscpm::nn::Module {
 public:
  EmbeddingExtImpl(int64_t vocab_size, int64_t dim, const ParamSpec& spec);
  // ids, subs: int64 of any equal shape -> [..., dim] in the parameter dtype.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& subs) const;
  // Without the "any sub != 0" test (a host read): the rotation of sub 0 is the identity.
  at::Tensor forward_rotating(const at::Tensor& ids, const at::Tensor& subs) const;
  // Rotates rows of x ([..., dim]) by the angles 16·sub·inv_freq (identity where sub == 0).
  at::Tensor rotate(const at::Tensor& x, const at::Tensor& subs) const;
  // h [..., dim] -> logits [..., vocab + E]; ext_rows [E, dim] are embeddings of the ext
  // table (forward(ext_ids, ext_subs)) or undefined/empty for no ext columns.
  at::Tensor projection(const at::Tensor& h, const at::Tensor& ext_rows) const;
  at::Tensor weight;
  at::Tensor weight_scale;  // int8 weights only: [vocab]
  at::Tensor inv_freq;  // [dim/2] computed in fp32 then cast (not a checkpoint key)
  int64_t dim;
  double divisor;       // sqrt(dim)
  at::ScalarType dtype;  // of the embeddings it returns

 private:
  at::Tensor rows(const at::Tensor& ids) const;  // weight rows in `dtype` (int8: times their scale)
};
VISCPM_MODULE(EmbeddingExt);

// Bucketed relative-position / segment-relation bias (§5); parameter
// "relative_attention_bias" [num_buckets + num_segment_buckets, heads].
class BucketPositionBiasImpl : public viscpm::nn::Module {
 public:
  BucketPositionBiasImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  // key_pos - query_pos (int64, any shape) -> positional bucket 0..num_buckets-1.
  at::Tensor position_bucket(const at::Tensor& relative_position) const;
  // Final bucket (§5.2) from segment buckets and relative positions (same shape).
  at::Tensor bucket(const at::Tensor& segment_bucket, const at::Tensor& relative_position) const;
  // buckets [B, Lq, T] (int64) -> bias [B, heads, Lq, T] in the parameter dtype.
  at::Tensor bias(const at::Tensor& buckets) const;
  at::Tensor relative_attention_bias;
  at::Tensor distance_buckets;  // [max_distance + 1] int64: b(|r|) of §5.3, clamped index
  int64_t num_buckets, max_distance;
};
VISCPM_MODULE(BucketPositionBias);

// What every layer of one call shares (computed once per call, §5/§6).
struct AttentionPlan {
  at::Tensor bias;          // [B, H, Lq, T] parameter dtype
  at::Tensor blocked;       // [B, 1, Lq, T] bool, true where attention is forbidden; undefined if none
  bool has_empty_rows = false;  // a query sees no key at all: its NaN softmax row becomes zeros
  int64_t cache_offset = 0;     // keys already cached before this call
};

// Per-layer key/value storage: [rows, H, capacity, dh]. Undefined tensors = no cache
// (full-sequence pass). When rows > the computed batch (1), new keys are broadcast into
// every row and attention reads row 0 (a prompt shared by all beams).
struct LayerKv {
  at::Tensor k, v;
};

class AttentionImpl : public viscpm::nn::Module {
 public:
  AttentionImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  // x [B, L, dim] (normalised) -> [B, L, dim]
  at::Tensor forward(const at::Tensor& x, const AttentionPlan& plan, const LayerKv& kv) const;
  ScaledLinear project_q{nullptr}, project_k{nullptr}, project_v{nullptr}, attention_out{nullptr};
  at::Tensor qkv_weight;  // [3·H·dh, dim]; project_q/k/v.weight are views of it
  at::Tensor qkv_scale;   // int8 weights only: [3·H·dh], viewed likewise
  int64_t num_heads, dim_head;
  double qkv_divisor, score_divisor;
};
VISCPM_MODULE(Attention);

// Gated GeLU input pair (DenseGatedACT): "w_0" (gate) and "w_1" (linear), fused.
class DenseGatedActImpl : public viscpm::nn::Module {
 public:
  DenseGatedActImpl(int64_t dim_in, int64_t dim_ff, const ParamSpec& spec);
  at::Tensor forward(const at::Tensor& x) const;  // GELU(w_0 x) * (w_1 x)
  ScaledLinear w_0{nullptr}, w_1{nullptr};
  at::Tensor fused_weight;  // [2·dim_ff, dim_in]
  at::Tensor fused_scale;   // int8 weights only: [2·dim_ff]
  int64_t dim_ff;
  double divisor;
};
VISCPM_MODULE(DenseGatedAct);

class FeedForwardImpl : public viscpm::nn::Module {
 public:
  FeedForwardImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  at::Tensor forward(const at::Tensor& x) const;
  DenseGatedAct w_in{nullptr};
  ScaledLinear w_out{nullptr};
};
VISCPM_MODULE(FeedForward);

class SelfAttentionBlockImpl : public viscpm::nn::Module {
 public:
  SelfAttentionBlockImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  // Updates h in place: h = (h + Attention(RMSNorm(h))) / 1.05.
  void forward_(at::Tensor& h, const AttentionPlan& plan, const LayerKv& kv) const;
  RmsNorm layernorm_before_attention{nullptr};
  Attention self_attention{nullptr};
};
VISCPM_MODULE(SelfAttentionBlock);

class FfnBlockImpl : public viscpm::nn::Module {
 public:
  FfnBlockImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  void forward_(at::Tensor& h) const;  // h = (h + FFN(RMSNorm(h))) / 1.05
  RmsNorm layernorm_before_ffn{nullptr};
  FeedForward ffn{nullptr};
};
VISCPM_MODULE(FfnBlock);

class TransformerBlockImpl : public viscpm::nn::Module {
 public:
  TransformerBlockImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  void forward_(at::Tensor& h, const AttentionPlan& plan, const LayerKv& kv) const;
  SelfAttentionBlock self_att{nullptr};
  FfnBlock ffn{nullptr};
};
VISCPM_MODULE(TransformerBlock);

class EncoderImpl : public viscpm::nn::Module {
 public:
  EncoderImpl(const CpmBeeConfig& config, const ParamSpec& spec);
  std::vector<TransformerBlock> blocks;  // also registered as "layers.<i>"
  RmsNorm output_layernorm{nullptr};
};
VISCPM_MODULE(Encoder);

// The residual post-scaling of §4.7.
constexpr double kResidualScale = 1.05;
// Rotary "distance scale" of EmbeddingExt.
constexpr int64_t kRotaryDistanceScale = 16;

}  // namespace viscpm::cpmbee
