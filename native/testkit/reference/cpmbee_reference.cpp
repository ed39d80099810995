#include "testkit/reference/cpmbee_reference.h"

#include "kernels/cpu/numerics.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/gather.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/log.h>
#include <ATen/ops/masked_fill.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/min.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/where.h>

#include <cmath>
#include <limits>

namespace viscpm::cpmbee::reference {
namespace {

at::Tensor linear(const ScaledLinearImpl& layer, const at::Tensor& x) {
  if (layer.scale_before) return at::linear(x / layer.divisor, layer.weight);
  return at::linear(x, layer.weight) / layer.divisor;
}

at::Tensor layer_norm(const RmsNormImpl& norm, const at::Tensor& x) {
  const auto dtype = x.scalar_type();
  at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, true);
  return (x * at::rsqrt(variance + norm.eps)).to(dtype) * norm.weight;
}

at::Tensor position_bucket(const at::Tensor& relative_position, int64_t num_buckets, int64_t max_distance) {
  num_buckets /= 2;
  at::Tensor buckets = relative_position.gt(0).to(at::kInt) * num_buckets;
  at::Tensor rel = at::abs(relative_position);
  const int64_t max_exact = num_buckets / 2;
  at::Tensor is_small = rel < max_exact;
  at::Tensor if_large =
      max_exact + (at::log(rel.to(at::kFloat) / max_exact) /
                   std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                   (num_buckets - max_exact))
                      .to(at::kInt);
  if_large = at::min(if_large, at::full_like(if_large, num_buckets - 1));
  return buckets + at::where(is_small, rel.to(at::kInt), if_large);
}

at::Tensor embedding(const EmbeddingExtImpl& emb, const at::Tensor& ids, const at::Tensor& subs) {
  at::Tensor embeds = at::embedding(emb.weight, ids) / emb.divisor;
  at::Tensor pos = subs * kRotaryDistanceScale;
  at::Tensor freqs = pos.unsqueeze(-1).to(embeds.scalar_type()) * emb.inv_freq.unsqueeze(0);
  at::Tensor full = at::cat({freqs, freqs}, -1);
  const int64_t half = embeds.size(-1) / 2;
  at::Tensor rotate = at::cat({-embeds.narrow(-1, half, half), embeds.narrow(-1, 0, half)}, -1);
  return embeds * full.cos() + rotate * full.sin();
}

at::Tensor cat_or(const at::Tensor& past, const at::Tensor& now) { return past.defined() ? at::cat({past, now}, -1) : now; }

}  // namespace

ForwardOutput inference(const CpmBeeImpl& model, const CpmBeeInputs& in, Buffers& buffers,
                        const at::Tensor& hidden_override) {
  c10::InferenceMode guard;
  const auto& config = model.config();
  const auto device = model.device();
  auto to = [&](const at::Tensor& t) { return t.to(device, at::kLong); };
  at::Tensor input = to(in.input_ids), input_sub = to(in.input_id_subs), position = to(in.positions);
  at::Tensor context = in.context.to(device).ne(0), sample_ids = to(in.sample_ids);
  at::Tensor num_segments = to(in.num_segments), segment = to(in.segment_ids);
  at::Tensor segment_rel_offset = to(in.segment_rel_offset), segment_rel = to(in.segment_rel);
  const int64_t batch = input.size(0), len_q = input.size(1);

  at::Tensor present_position = cat_or(buffers.position, position);
  at::Tensor present_context = cat_or(buffers.context, context);
  at::Tensor present_sample_ids = cat_or(buffers.sample_ids, sample_ids);
  at::Tensor present_num_segments = cat_or(buffers.num_segments, num_segments);
  at::Tensor present_segments = cat_or(buffers.segments, segment);
  const int64_t len_buffer = present_position.size(1);

  at::Tensor same_sample = sample_ids.unsqueeze(2) == present_sample_ids.unsqueeze(1);
  at::Tensor segment_rel_2d =
      at::masked_fill(segment.unsqueeze(2) * num_segments.unsqueeze(2) + present_segments.unsqueeze(1) +
                          segment_rel_offset.unsqueeze(2),
                      ~same_sample, 0)
          .view({batch, len_q * len_buffer});
  at::Tensor segment_bucket = at::gather(segment_rel, 1, segment_rel_2d).view({batch, len_q, len_buffer});
  segment_bucket.masked_fill_(~same_sample, 1);
  at::Tensor directional = present_position.unsqueeze(1) <= position.unsqueeze(2);
  at::Tensor sample_mask = (sample_ids.unsqueeze(2) == 0) | same_sample;
  at::Tensor attention_mask = present_context.unsqueeze(1) | (context.unsqueeze(2).logical_not() & directional);
  attention_mask = attention_mask & sample_mask;
  attention_mask = (present_num_segments != 0).view({batch, 1, len_buffer}) & attention_mask;

  const auto& emb = *model.input_embedding;
  at::Tensor hidden = hidden_override.defined() ? hidden_override.to(device, model.dtype())
                                                : embedding(emb, input, input_sub);
  // BucketPositionBias.forward
  const auto& pb = *model.position_bias;
  at::Tensor rel_bucket = segment_bucket - 1 + pb.num_buckets;
  at::Tensor inner = position_bucket(present_position.unsqueeze(1) - position.unsqueeze(2), pb.num_buckets,
                                     pb.max_distance);
  rel_bucket = at::where(segment_bucket == 0, inner.to(at::kLong), rel_bucket);
  at::Tensor position_bias = at::embedding(pb.relative_attention_bias, rel_bucket).permute({0, 3, 1, 2}).contiguous();

  const bool first = buffers.empty();
  for (int64_t l = 0; l < config.num_layers; ++l) {
    const auto& block = *model.encoder->blocks[l];
    const auto& att = *block.self_att->self_attention;
    at::Tensor x = layer_norm(*block.self_att->layernorm_before_attention, hidden);
    const int64_t heads = att.num_heads, dh = att.dim_head;
    at::Tensor h_q = linear(*att.project_q, x).view({batch, len_q, heads, dh}).permute({0, 2, 1, 3});
    at::Tensor h_k = linear(*att.project_k, x).view({batch, len_q, heads, dh}).permute({0, 2, 1, 3});
    at::Tensor h_v = linear(*att.project_v, x).view({batch, len_q, heads, dh}).permute({0, 2, 1, 3});
    if (!first) {
      h_k = at::cat({buffers.k[l], h_k}, -2);
      h_v = at::cat({buffers.v[l], h_v}, -2);
    }
    at::Tensor score = at::matmul(h_q, h_k.transpose(-1, -2)) / std::sqrt(static_cast<double>(dh));
    score = score + position_bias;
    at::Tensor blocked = attention_mask.view({batch, 1, len_q, len_buffer}) == false;
    score = at::masked_fill(score, blocked, -std::numeric_limits<double>::infinity());
    score = kernels::cpu::softmax_last(score);
    score = at::masked_fill(score, blocked, 0.0);
    score = at::matmul(score, h_v);
    score = score.view({batch, heads, len_q, dh}).permute({0, 2, 1, 3}).contiguous().view({batch, len_q, heads * dh});
    score = linear(*att.attention_out, score);
    hidden = (hidden + score) / kResidualScale;

    const auto& ffn = *block.ffn;
    x = layer_norm(*ffn.layernorm_before_ffn, hidden);
    const auto& w_in = *ffn.ffn->w_in;
    at::Tensor gate = kernels::cpu::gelu_exact(linear(*w_in.w_0, x));
    x = gate * linear(*w_in.w_1, x);
    x = linear(*ffn.ffn->w_out, x);
    hidden = (hidden + x) / kResidualScale;

    if (first) {
      buffers.k.push_back(h_k);
      buffers.v.push_back(h_v);
    } else {
      buffers.k[l] = h_k;
      buffers.v[l] = h_v;
    }
  }
  hidden = layer_norm(*model.encoder->output_layernorm, hidden);
  ForwardOutput out;
  out.hidden_states = hidden;
  at::Tensor logits = at::linear(hidden / emb.divisor, emb.weight);
  if (in.ext_table_ids.defined() && in.ext_table_ids.numel() > 0) {
    at::Tensor ext_table = embedding(emb, to(in.ext_table_ids), to(in.ext_table_sub));
    logits = at::cat({logits, at::linear(hidden, ext_table)}, -1);
  }
  out.logits = logits;
  buffers.position = present_position;
  buffers.context = present_context;
  buffers.sample_ids = present_sample_ids;
  buffers.num_segments = present_num_segments;
  buffers.segments = present_segments;
  return out;
}

void reorder(Buffers& buffers, const at::Tensor& index) {
  c10::InferenceMode guard;
  at::Tensor idx = index.to(buffers.position.device(), at::kLong);
  for (auto* t : {&buffers.position, &buffers.context, &buffers.sample_ids, &buffers.num_segments, &buffers.segments})
    *t = t->index_select(0, idx);
  for (auto& t : buffers.k) t = t.index_select(0, idx);
  for (auto& t : buffers.v) t = t.index_select(0, idx);
}

}  // namespace viscpm::cpmbee::reference
