#include "cpmbee/model.h"

#include "common/error.h"
#include "common/memory.h"
#include "io/tensor_source.h"
#include "common/tensor_text.h"
#include "kernels/ops.h"

#include <cstdio>
#include <ATen/Context.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/gather.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

#include <cmath>

namespace viscpm::cpmbee {
namespace {

at::Tensor qcol(const at::Tensor& t) { return t.unsqueeze(2); }  // [B, Lq] -> [B, Lq, 1]
at::Tensor krow(const at::Tensor& t) { return t.unsqueeze(1); }  // [B, T]  -> [B, 1, T]

bool aliases(const at::Tensor& view, const at::Tensor& fused, int64_t row) {
  return view.defined() && view.is_contiguous() &&
         view.data_ptr() == fused.narrow(0, row, 1).data_ptr();
}

// A [rows] (or [rows, 1]) integer step field -> int64 [rows] on device.
at::Tensor step_field(const at::Tensor& t, const char* name, int64_t rows, at::Device device) {
  if (!t.defined()) throw InvalidArgument(std::string("CPM-Bee step input \"") + name + "\" is missing");
  if (!at::isIntegralType(t.scalar_type(), /*includeBool=*/true) || t.numel() != rows ||
      !(t.dim() == 1 || (t.dim() == 2 && t.size(1) == 1)))
    throw InvalidArgument(std::string("CPM-Bee step input \"") + name + "\" must be an integer tensor [" +
                          std::to_string(rows) + "] (one token per cache row), got " + shape_string(t));
  return t.reshape({rows}).to(device, at::kLong);
}

}  // namespace

void require_weights_fit(const CpmBeeConfig& config, at::ScalarType dtype, at::Device device, WeightFormat matrices) {
  char parameters[32];
  std::snprintf(parameters, sizeof parameters, "%.3g", config.parameter_count());
  // int8: one byte per matrix weight (nearly every parameter) plus a 4-byte scale per row.
  const bool int8 = matrices == WeightFormat::kInt8;
  const double bytes = int8 ? config.parameter_count() * 1.01 : config.parameter_count() * double(c10::elementSize(dtype));
  memory::require(bytes,
                  std::string("CPM-Bee's ") + parameters + " parameters (" + (int8 ? std::string("int8") : std::string(c10::toString(dtype))) + ")", device,
                  "check dim_model, dim_ff, num_layers and vocab_size in the model's cpm-bee.json");
}

CpmBeeImpl::CpmBeeImpl(const CpmBeeConfig& config, at::ScalarType dtype, at::Device device, WeightFormat matrices)
    : config_(config), dtype_(dtype), device_(device), matrices_(matrices) {
  config_.validate();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
    throw Unsupported(std::string("CPM-Bee parameters must be float32, bfloat16 or float16, not ") +
                      c10::toString(dtype));
  require_weights_fit(config_, dtype, device, matrices);
  const ParamSpec spec{dtype, device, matrices};
  input_embedding = register_module("input_embedding", EmbeddingExt(config_.vocab_size, config_.dim_model, spec));
  position_bias = register_module("position_bias", BucketPositionBias(config_, spec));
  encoder = register_module("encoder", Encoder(config_, spec));
}

void CpmBeeImpl::load_weights(const io::TensorSource& source, const std::string& prefix,
                              const std::vector<std::string>& ignored_prefixes) {
  c10::InferenceMode guard;
  io::LoadOptions options;
  options.prefix = prefix;
  options.ignored_prefixes = ignored_prefixes;
  if (matrices_ == WeightFormat::kInt8) options.quantize_int8_rows = kernels::quantize_int8_rows;
  io::load_module(*this, source, options);
  refresh_fused_weights();
}

bool holds_int8_matrices(const io::TensorSource& source, const std::string& prefix) {
  const io::TensorEntry* embedding = source.find(prefix + "input_embedding.weight");
  return embedding != nullptr && embedding->dtype == at::kChar;
}

void CpmBeeImpl::refresh_fused_weights() {
  c10::InferenceMode guard;
  auto refuse = [](at::Tensor& fused, at::Tensor& fused_scale, std::vector<ScaledLinear> parts) {
    int64_t row = 0;
    bool intact = true;
    for (const auto& p : parts) {
      intact = intact && aliases(p->weight, fused, row) &&
               (!fused_scale.defined() || aliases(p->weight_scale, fused_scale, row));
      row += p->weight.size(0);
    }
    if (intact) return;
    std::vector<at::Tensor> weights, scales;
    for (const auto& p : parts) {
      weights.push_back(p->weight);
      if (fused_scale.defined()) scales.push_back(p->weight_scale);
    }
    fused = at::cat(weights, 0);
    if (fused_scale.defined()) fused_scale = at::cat(scales, 0);
    row = 0;
    for (auto& p : parts) {
      const int64_t n = p->weight.size(0);
      p->rebind_weight(fused.narrow(0, row, n), fused_scale.defined() ? fused_scale.narrow(0, row, n) : at::Tensor());
      row += n;
    }
  };
  for (auto& block : encoder->blocks) {
    auto& att = *block->self_att->self_attention;
    refuse(att.qkv_weight, att.qkv_scale, {att.project_q, att.project_k, att.project_v});
    auto& gated = *block->ffn->ffn->w_in;
    refuse(gated.fused_weight, gated.fused_scale, {gated.w_0, gated.w_1});
  }
}

void CpmBeeImpl::init_random_(uint64_t seed, double std) {
  c10::InferenceMode guard;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  bool seeded_device = false;
  for (auto& item : named_parameters(/*recurse=*/true)) {
    at::Tensor p = item.value();
    const std::string& name = item.key();
    const bool is_norm = name.find("layernorm") != std::string::npos;
    const bool is_bias = name.find("relative_attention_bias") != std::string::npos;
    const double mean = is_norm ? 1.0 : 0.0, sd = is_norm ? 0.1 : (is_bias ? 1.0 : std);
    // Uniform with the requested mean and standard deviation (faster to draw than normal).
    const double low = mean - std::sqrt(3.0) * sd, high = mean + std::sqrt(3.0) * sd;
    if (p.scalar_type() == at::kChar) {
      // int8 rows: uniform integers in [-127, 127] (the draws of CPU and device generators
      // differ, as for float weights); their "_scale" rows give the requested deviation.
      if (p.device().is_cpu()) p.random_(-127, 128, gen);
      else p.random_(-127, 128);
      continue;
    }
    if (name.size() > 6 && name.compare(name.size() - 6, 6, "_scale") == 0) {
      p.fill_(std * std::sqrt(3.0) / 127.0);  // uniform on [-127, 127] has deviation 127/sqrt(3)
      continue;
    }
    if (p.device().is_cpu() && p.scalar_type() == at::kFloat) {
      p.uniform_(low, high, gen);
      continue;
    }
    if (!p.device().is_cpu()) {
      // On a GPU: the device's own generator, seeded once (10B values from the CPU would
      // take minutes); the values differ from a CPU run's, the distribution does not.
      if (!seeded_device) at::manual_seed(seed);
      seeded_device = true;
      p.uniform_(low, high);
      continue;
    }
    // Reduced dtypes / other devices: fp32 draws in bounded chunks copied into place (the
    // CPU generator is vectorised for fp32 only; a full fp32 copy would double the memory).
    at::Tensor flat = p.view({-1});
    constexpr int64_t kChunk = int64_t{1} << 22;
    at::Tensor draws = at::empty({std::min(kChunk, flat.numel())}, at::TensorOptions().dtype(at::kFloat));
    for (int64_t begin = 0; begin < flat.numel(); begin += kChunk) {
      const int64_t n = std::min(kChunk, flat.numel() - begin);
      flat.narrow(0, begin, n).copy_(draws.narrow(0, 0, n).uniform_(low, high, gen));
    }
  }
}

at::Tensor CpmBeeImpl::embed(const at::Tensor& ids, const at::Tensor& subs) const {
  c10::InferenceMode guard;
  if (!ids.defined() || !subs.defined() || ids.sizes() != subs.sizes())
    throw InvalidArgument("embed: ids " + shape_string(ids) + " and subs " + shape_string(subs) +
                          " must have the same shape");
  at::Tensor i = ids.to(device_, at::kLong), s = subs.to(device_, at::kLong);
  if (i.numel() > 0) {
    at::Tensor range = at::stack({i.min(), i.max()}).cpu();
    if (range[0].item<int64_t>() < 0 || range[1].item<int64_t>() >= config_.vocab_size)
      throw InvalidArgument("embed: token id outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
  }
  return input_embedding->forward(i, s);
}

CpmBeeImpl::Tables CpmBeeImpl::attention_tables(const TokenFields& q, const TokenFields& k,
                                                const at::Tensor& segment_rel, const at::Tensor& pair_valid,
                                                bool use_span, bool* position_dependent, bool check_ranges) const {
  const int64_t batch = q.positions.size(0), len_q = q.positions.size(1), len_k = k.positions.size(1);
  // §5.1 segment bucket: relation-table entry for same-sample pairs, 1 otherwise.
  at::Tensor same = qcol(q.sample_ids).eq(krow(k.sample_ids));
  if (use_span) same.logical_and_(qcol(q.span).eq(krow(k.span)));
  at::Tensor other = same.logical_not();
  at::Tensor index = (qcol(q.segments) * qcol(q.num_segments) + qcol(q.rel_offset)) + krow(k.segments);
  index.masked_fill_(other, 0);  // the reference's guard against out-of-range gathers
  // Clamped so that a bad index is reported below instead of failing inside gather.
  at::Tensor seg_bucket = at::gather(segment_rel, 1, index.clamp(0, segment_rel.size(1) - 1).reshape({batch, len_q * len_k}))
                              .view({batch, len_q, len_k});
  seg_bucket.masked_fill_(other, 1);
  // One host sync for every range check of the call (none for trusted steps: the clamp
  // above keeps the gather in bounds either way).
  if (check_ranges) {
    at::Tensor ranges = at::stack({index.min(), index.max(), seg_bucket.min(), seg_bucket.max()}).cpu();
    const int64_t idx_lo = ranges[0].item<int64_t>(), idx_hi = ranges[1].item<int64_t>();
    if (idx_lo < 0 || idx_hi >= segment_rel.size(1))
      throw InvalidArgument("CPM-Bee segment fields address segment_rel entry " +
                            std::to_string(idx_lo < 0 ? idx_lo : idx_hi) + " outside its " +
                            std::to_string(segment_rel.size(1)) + " entries (segment * num_segments + segment + offset)");
    const int64_t seg_lo = ranges[2].item<int64_t>(), seg_hi = ranges[3].item<int64_t>();
    if (seg_lo < 0 || seg_hi > config_.position_bias_num_segment_buckets)
      throw InvalidArgument("CPM-Bee segment_rel holds relation bucket " + std::to_string(seg_lo < 0 ? seg_lo : seg_hi) +
                            " outside [0, " + std::to_string(config_.position_bias_num_segment_buckets) + "]");
  }
  // §5.2-5.4 bucket and bias.
  at::Tensor relative = krow(k.positions) - qcol(q.positions);
  at::Tensor bias = position_bias->bias(position_bias->bucket(seg_bucket, relative));
  // §6 mask: context rule, sample rule, validity.
  at::Tensor query_context = qcol(q.context);
  at::Tensor visible = krow(k.context) | (query_context.logical_not() & krow(k.positions).le(qcol(q.positions)));
  visible.logical_and_(qcol(q.sample_ids).eq(0) | qcol(q.sample_ids).eq(krow(k.sample_ids)));
  if (pair_valid.defined()) visible.logical_and_(pair_valid);
  if (position_dependent) {
    // The query position matters only through same-segment buckets and the causal rule.
    *position_dependent =
        (seg_bucket.eq(0) | (query_context.logical_not() & krow(k.context).logical_not())).any().item<bool>();
  }
  return {bias, visible.logical_not().unsqueeze(1)};
}

AttentionPlan CpmBeeImpl::make_plan(at::Tensor bias, at::Tensor blocked, int64_t cache_offset, bool trusted) const {
  AttentionPlan plan;
  plan.bias = std::move(bias);
  plan.cache_offset = cache_offset;
  if (trusted) {
    // Filling a mask that blocks nothing, and zeroing probabilities that are already 0,
    // change no value: both are applied instead of asking the device whether they are needed.
    plan.blocked = std::move(blocked);
    plan.has_empty_rows = true;
    return plan;
  }
  at::Tensor flags = at::stack({blocked.any(), blocked.all(-1).any()}).cpu();
  if (flags[0].item<bool>()) plan.blocked = std::move(blocked);  // else skip every masked_fill
  plan.has_empty_rows = flags[1].item<bool>();
  return plan;
}

at::Tensor CpmBeeImpl::run_layers(at::Tensor h, const AttentionPlan& plan, const KvCache* cache) const {
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    encoder->blocks[i]->forward_(h, plan, cache ? cache->layer_kv(i) : LayerKv{});
  }
  return encoder->output_layernorm->forward(h);
}

at::Tensor CpmBeeImpl::logits_of(const at::Tensor& hidden, const at::Tensor& ext_rows) const {
  return input_embedding->projection(hidden, ext_rows);
}

namespace {

at::Tensor checked_embedding(const at::Tensor& e, int64_t batch, int64_t len, int64_t dim, at::ScalarType dtype,
                             at::Device device) {
  if (e.dim() != 3 || (e.size(0) != batch && e.size(0) != 1) || e.size(1) != len || e.size(2) != dim)
    throw InvalidArgument("CPM-Bee input_embedding must be [" + std::to_string(batch) + ", " + std::to_string(len) +
                          ", " + std::to_string(dim) + "], got " + shape_string(e));
  if (!at::isFloatingType(e.scalar_type())) throw InvalidArgument("CPM-Bee input_embedding must be floating point");
  return e.to(device, dtype).expand({batch, len, dim}).clone(at::MemoryFormat::Contiguous);
}

}  // namespace

ForwardOutput CpmBeeImpl::forward(const CpmBeeInputs& inputs, const at::Tensor& input_embedding_override,
                                  LogitsMode logits) const {
  c10::InferenceMode guard;
  TokenFields f = prepare_tokens(inputs, config_.vocab_size, device_, Pass::kFull);
  const int64_t batch = f.batch(), len = f.length();
  if (len == 0) throw InvalidArgument("CPM-Bee forward needs at least one token");
  at::Tensor segment_rel = prepare_segment_rel(inputs.segment_rel, batch, device_);
  auto [ext_ids, ext_subs] = prepare_ext_table(inputs.ext_table_ids, inputs.ext_table_sub, config_.vocab_size, device_);
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device_);
  at::Tensor length = at::full({batch}, len, longs);
  if (inputs.length.defined()) {
    if (!at::isIntegralType(inputs.length.scalar_type(), false) || inputs.length.numel() != batch)
      throw InvalidArgument("CPM-Bee input \"length\" must be an integer tensor [" + std::to_string(batch) +
                            "], got " + shape_string(inputs.length));
    length = inputs.length.reshape({batch}).to(device_, at::kLong);
  }
  // §7.1 rule 3: both tokens inside the row's length and in the same span.
  at::Tensor inside = at::arange(len, longs).unsqueeze(0).lt(length.unsqueeze(1));
  at::Tensor pair_valid = qcol(inside) & krow(inside) & qcol(f.span).eq(krow(f.span));
  Tables tables = attention_tables(f, f, segment_rel, pair_valid, /*use_span=*/true);
  AttentionPlan plan = make_plan(tables.bias, tables.blocked, 0);

  ForwardOutput out;
  out.input_embedding = input_embedding_override.defined()
                            ? checked_embedding(input_embedding_override, batch, len, config_.dim_model, dtype_, device_)
                            : input_embedding->forward(f.ids, f.subs);
  out.hidden_states = run_layers(out.input_embedding.clone(), plan, nullptr);
  if (logits != LogitsMode::kNone) {
    at::Tensor ext_rows = ext_ids.numel() ? input_embedding->forward(ext_ids, ext_subs) : at::Tensor();
    out.logits = logits_of(logits == LogitsMode::kLast ? out.hidden_states.select(1, len - 1) : out.hidden_states,
                           ext_rows);
  }
  return out;
}

KvCache CpmBeeImpl::new_cache(int64_t batch, int64_t capacity) const {
  return KvCache(config_, batch, capacity, dtype_, device_);
}

ForwardOutput CpmBeeImpl::prefill(const CpmBeeInputs& inputs, KvCache& cache, const at::Tensor& input_embedding_override,
                                  LogitsMode logits) const {
  c10::InferenceMode guard;
  if (!cache.defined() || cache.num_layers_ != config_.num_layers || cache.kv_.scalar_type() != dtype_ ||
      cache.kv_.size(3) != config_.num_heads || cache.kv_.size(5) != config_.dim_head)
    throw InvalidArgument("prefill: the KV cache was not made by this model (use new_cache)");
  TokenFields f = prepare_tokens(inputs, config_.vocab_size, device_, Pass::kCached);
  const int64_t rows = cache.batch(), past = cache.length(), len = f.length(), total = past + len;
  if (len == 0) throw InvalidArgument("prefill needs at least one token");
  if (f.batch() != 1 && f.batch() != rows)
    throw InvalidArgument("prefill: input batch " + std::to_string(f.batch()) + " must be 1 or the cache batch " +
                          std::to_string(rows));
  if (total > cache.capacity())
    throw InvalidArgument("prefill: " + std::to_string(total) + " tokens exceed the KV cache capacity " +
                          std::to_string(cache.capacity()));
  at::Tensor segment_rel = prepare_segment_rel(inputs.segment_rel, f.batch(), device_);
  auto [ext_ids, ext_subs] = prepare_ext_table(inputs.ext_table_ids, inputs.ext_table_sub, config_.vocab_size, device_);
  at::Tensor embedding = input_embedding_override.defined()
                             ? checked_embedding(input_embedding_override, f.batch(), len, config_.dim_model, dtype_, device_)
                             : input_embedding->forward(f.ids, f.subs);

  // A batch-1 input on row-identical cache rows is computed once and broadcast.
  const bool broadcast = f.batch() == 1 && rows > 1 && cache.shared_length_ == past;
  if (f.batch() == 1 && rows > 1 && !broadcast) {
    f = f.expand_rows(rows);
    segment_rel = segment_rel.expand({rows, segment_rel.size(1)});
    embedding = embedding.expand({rows, len, config_.dim_model}).contiguous();
  }
  const int64_t computed = broadcast ? 1 : rows;

  // Key-side fields: append the new tokens' fields to every row.
  const at::Tensor* sources[KvCache::kNumFields] = {&f.positions, &f.context, &f.sample_ids, &f.num_segments,
                                                    &f.segments};
  for (int64_t i = 0; i < KvCache::kNumFields; ++i) cache.fields_[i].narrow(1, past, len).copy_(*sources[i]);
  auto key_field = [&](int64_t i) { return cache.fields_[i].narrow(0, 0, computed).narrow(1, 0, total); };
  TokenFields keys;
  keys.positions = key_field(KvCache::kPosition);
  keys.context = key_field(KvCache::kContext).ne(0);
  keys.sample_ids = key_field(KvCache::kSample);
  keys.num_segments = key_field(KvCache::kNumSegments);
  keys.segments = key_field(KvCache::kSegment);

  Tables tables = attention_tables(f, keys, segment_rel, krow(keys.num_segments.ne(0)), /*use_span=*/false);
  AttentionPlan plan = make_plan(tables.bias, tables.blocked, past);

  ForwardOutput out;
  out.input_embedding = embedding;
  out.hidden_states = run_layers(embedding.clone(), plan, &cache);
  cache.length_ = total;
  if (broadcast) cache.shared_length_ = total;

  // Request constants for the following steps.
  cache.segment_rel_ = segment_rel.expand({rows, segment_rel.size(1)}).contiguous();
  cache.ext_rows_ = ext_ids.numel() ? input_embedding->forward(ext_ids, ext_subs) : at::Tensor();
  cache.last_num_segments_ = f.num_segments.select(1, len - 1).expand({rows}).contiguous();
  cache.last_rel_offset_ = f.rel_offset.select(1, len - 1).expand({rows}).contiguous();
  if (!cache.has_request_) cache.prefix_length_ = total;
  cache.has_request_ = true;
  cache.invalidate_prefix_tables();

  if (logits != LogitsMode::kNone) {
    out.logits = logits_of(logits == LogitsMode::kLast ? out.hidden_states.select(1, len - 1) : out.hidden_states,
                           cache.ext_rows_);
  }
  return out;
}

void CpmBeeImpl::fill_step_tables(const TokenFields& q, KvCache& cache, int64_t begin, int64_t count,
                                  bool* position_dependent, bool check_ranges) const {
  auto f = [&](int64_t i) { return cache.fields_[i].narrow(1, begin, count); };
  TokenFields k;
  k.positions = f(KvCache::kPosition);
  k.context = f(KvCache::kContext).ne(0);
  k.sample_ids = f(KvCache::kSample);
  k.num_segments = f(KvCache::kNumSegments);
  k.segments = f(KvCache::kSegment);
  Tables t = attention_tables(q, k, cache.segment_rel_, krow(k.num_segments.ne(0)), false, position_dependent,
                              check_ranges);
  cache.step_bias_.narrow(3, begin, count).copy_(t.bias);
  cache.step_blocked_.narrow(3, begin, count).copy_(t.blocked);
}

void CpmBeeImpl::prepare_trusted_steps(KvCache& cache, const at::Tensor& segment_ids) const {
  c10::InferenceMode guard;
  if (!cache.defined() || !cache.has_request_)
    throw InvalidArgument("prepare_trusted_steps: the KV cache holds no prompt (call prefill first)");
  const int64_t rows = cache.batch();
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device_);
  auto column = [](const at::Tensor& t) { return t.unsqueeze(1); };
  TokenFields q;
  q.positions = at::zeros({rows, 1}, longs);  // only read when the columns depend on it
  q.segments = column(step_field(segment_ids, "segment_ids", rows, device_));
  q.context = at::ones({rows, 1}, longs.dtype(at::kBool));
  q.sample_ids = at::zeros({rows, 1}, longs);
  q.num_segments = column(cache.last_num_segments_);
  q.rel_offset = column(cache.last_rel_offset_);
  bool position_dependent = true;
  fill_step_tables(q, cache, 0, cache.prefix_length_, &position_dependent, true);
  cache.prefix_valid_ = !position_dependent;
  cache.prefix_query_ = at::cat({q.segments, q.num_segments, q.rel_offset, q.sample_ids, q.context.to(at::kLong)}, 1);
}

StepOutput CpmBeeImpl::decode_step(const StepInputs& step, KvCache& cache) const {
  c10::InferenceMode guard;
  if (!cache.defined() || !cache.has_request_)
    throw InvalidArgument("decode_step: the KV cache holds no prompt (call prefill first)");
  const int64_t rows = cache.batch(), past = cache.length(), total = past + 1;
  if (total > cache.capacity())
    throw InvalidArgument("decode_step: the KV cache is full (capacity " + std::to_string(cache.capacity()) + ")");
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device_);
  auto column = [](const at::Tensor& t) { return t.unsqueeze(1); };
  TokenFields q;
  q.ids = column(step_field(step.token_ids, "token_ids", rows, device_));
  q.subs = column(step_field(step.token_subs, "token_subs", rows, device_));
  q.positions = column(step_field(step.positions, "positions", rows, device_));
  q.segments = column(step_field(step.segment_ids, "segment_ids", rows, device_));
  q.context = step.context.defined() ? column(step_field(step.context, "context", rows, device_).ne(0))
                                     : at::ones({rows, 1}, longs.dtype(at::kBool));
  q.sample_ids = step.sample_ids.defined() ? column(step_field(step.sample_ids, "sample_ids", rows, device_))
                                           : at::zeros({rows, 1}, longs);
  q.num_segments = column(step.num_segments.defined() ? step_field(step.num_segments, "num_segments", rows, device_)
                                                      : cache.last_num_segments_);
  q.rel_offset = column(step.segment_rel_offset.defined()
                            ? step_field(step.segment_rel_offset, "segment_rel_offset", rows, device_)
                            : cache.last_rel_offset_);
  at::Tensor embedding = step.trusted ? input_embedding->forward_rotating(q.ids, q.subs)
                                      : embed(q.ids, q.subs);  // validates the ids

  const at::Tensor* sources[KvCache::kNumFields] = {&q.positions, &q.context, &q.sample_ids, &q.num_segments,
                                                    &q.segments};
  for (int64_t i = 0; i < KvCache::kNumFields; ++i) cache.fields_[i].narrow(1, past, 1).copy_(*sources[i]);
  // Prompt columns: rebuilt only when a row's query segment fields changed (or when they
  // depend on the query position: a query in a prompt segment, or causal prompt keys).
  const int64_t prefix = cache.prefix_length_;
  if (step.trusted) {
    // prepare_trusted_steps built them if they do not depend on the position; asking
    // whether the query fields changed would be a read, and trusted callers keep them fixed.
    if (!cache.prefix_valid_) fill_step_tables(q, cache, 0, prefix, nullptr, false);
  } else if (at::Tensor query_key =
                 at::cat({q.segments, q.num_segments, q.rel_offset, q.sample_ids, q.context.to(at::kLong)}, 1);
             !(cache.prefix_valid_ && at::equal(query_key, cache.prefix_query_))) {
    bool position_dependent = true;
    fill_step_tables(q, cache, 0, prefix, &position_dependent, true);
    cache.prefix_valid_ = !position_dependent;
    cache.prefix_query_ = query_key;
  }
  fill_step_tables(q, cache, prefix, total - prefix, nullptr, !step.trusted);  // answer columns, incl. the new token
  AttentionPlan plan =
      make_plan(cache.step_bias_.narrow(3, 0, total), cache.step_blocked_.narrow(3, 0, total), past, step.trusted);

  StepOutput out;
  out.hidden_states = run_layers(embedding, plan, &cache).squeeze(1);
  cache.length_ = total;
  out.logits = logits_of(out.hidden_states, cache.ext_rows_);
  return out;
}

}  // namespace viscpm::cpmbee
