// BEiT-3 large multiway encoder as VisCPM-Chat runs it (spec beit3.md §3-§5): patch
// embedding + cls token, the learned queries appended after the image tokens, position
// tables indexed from 2, 24 pre-LN layers with sub-LN, joint attention over all tokens with
// per-expert projections, final multiway LayerNorm.
//
// Module names equal the torchscale checkpoint keys below `vpm.beit3.` (vision_embed.*,
// encoder.embed_positions.{A,B}.weight, encoder.layers.{i}.*, encoder.layer_norm.{A,B}.*).
// The text embedding and the mask token are not modules here (never used at inference).
#pragma once

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <vector>

#include "vision/beit3_config.h"
#include "vision/multiway.h"

namespace viscpm::vision {

// Conv 16x16 stride 16 (weight [D, 3, p, p], bias [D]) as a module named `proj`.
class PatchProjectionImpl : public viscpm::nn::Module {
 public:
  PatchProjectionImpl(const Beit3Config& config, const at::TensorOptions& options);
  // [B, 3, H, W] -> [B, (H/p)*(W/p), D], patches in row-major order.
  at::Tensor forward(const at::Tensor& pixel_values) const;

 private:
  int64_t patch_size_;
  at::Tensor weight_, bias_;
};
VISCPM_MODULE(PatchProjection);

// `vision_embed`: cls token + flattened patch projections -> [B, 1 + patches, D].
class VisionEmbeddingImpl : public viscpm::nn::Module {
 public:
  VisionEmbeddingImpl(const Beit3Config& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& pixel_values) const;

 private:
  at::Tensor cls_token_;
  PatchProjection proj_{nullptr};
};
VISCPM_MODULE(VisionEmbedding);

// One learned table `weight` [rows, D].
class PositionTableImpl : public viscpm::nn::Module {
 public:
  PositionTableImpl(int64_t rows, int64_t dim, const at::TensorOptions& options);
  // Rows 2 .. 2+count-1 (fairseq positions start after the padding index 1).
  at::Tensor positions(int64_t count) const;

 private:
  at::Tensor weight_;
};
VISCPM_MODULE(PositionTable);

// `embed_positions`: A for the image tokens (patches + 3 rows), B for the queries.
class PositionEmbeddingsImpl : public viscpm::nn::Module {
 public:
  PositionEmbeddingsImpl(const Beit3Config& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, int64_t split) const;  // x + positions

 private:
  PositionTable a_{nullptr}, b_{nullptr};
};
VISCPM_MODULE(PositionEmbeddings);

// `self_attn`: per-expert q/k/v, joint softmax attention over all tokens, sub-LN, out.
class SelfAttentionImpl : public viscpm::nn::Module {
 public:
  SelfAttentionImpl(const Beit3Config& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, int64_t split) const;

 private:
  int64_t heads_, head_dim_;
  double scaling_;
  MultiwayLinear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, out_proj_{nullptr};
  MultiwayLayerNorm inner_attn_ln_{nullptr};
};
VISCPM_MODULE(SelfAttention);

// One expert of `ffn`: fc1 -> GELU -> ffn_layernorm (sub-LN) -> fc2.
class FeedForwardImpl : public viscpm::nn::Module {
 public:
  FeedForwardImpl(const Beit3Config& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  LinearLayer fc1_{nullptr}, fc2_{nullptr};
  LayerNormLayer ffn_layernorm_{nullptr};
};
VISCPM_MODULE(FeedForward);

// `ffn`: the two experts `A` and `B`.
class MultiwayFeedForwardImpl : public viscpm::nn::Module {
 public:
  MultiwayFeedForwardImpl(const Beit3Config& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, int64_t split) const;

 private:
  FeedForward a_{nullptr}, b_{nullptr};
};
VISCPM_MODULE(MultiwayFeedForward);

class EncoderLayerImpl : public viscpm::nn::Module {
 public:
  EncoderLayerImpl(const Beit3Config& config, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, int64_t split) const;

 private:
  SelfAttention self_attn_{nullptr};
  MultiwayLayerNorm self_attn_layer_norm_{nullptr}, final_layer_norm_{nullptr};
  MultiwayFeedForward ffn_{nullptr};
};
VISCPM_MODULE(EncoderLayer);

// `layers`: children named "0", "1", ... like torch.nn.ModuleList.
class EncoderLayersImpl : public viscpm::nn::Module {
 public:
  EncoderLayersImpl(const Beit3Config& config, const at::TensorOptions& options);
  const std::vector<EncoderLayer>& layers() const { return layers_; }

 private:
  std::vector<EncoderLayer> layers_;
};
VISCPM_MODULE(EncoderLayers);

class EncoderImpl : public viscpm::nn::Module {
 public:
  EncoderImpl(const Beit3Config& config, const at::TensorOptions& options);
  // Token embeddings [B, n, D] whose first `split` tokens are image tokens -> [B, n, D].
  at::Tensor forward(const at::Tensor& tokens, int64_t split) const;

 private:
  PositionEmbeddings embed_positions_{nullptr};
  EncoderLayers layers_{nullptr};
  MultiwayLayerNorm layer_norm_{nullptr};
};
VISCPM_MODULE(Encoder);

// `beit3`: image tokens + appended query tokens through the encoder.
class Beit3Impl : public viscpm::nn::Module {
 public:
  Beit3Impl(const Beit3Config& config, const at::TensorOptions& options);
  // pixel_values [B, 3, S, S] (normalised), queries [Q, D] -> encoder output of the
  // queries [B, Q, D] (the image-token outputs are computed but discarded).
  at::Tensor forward(const at::Tensor& pixel_values, const at::Tensor& queries) const;
  const Beit3Config& config() const { return config_; }

 private:
  Beit3Config config_;
  VisionEmbedding vision_embed_{nullptr};
  Encoder encoder_{nullptr};
};
VISCPM_MODULE(Beit3);

}  // namespace viscpm::vision
