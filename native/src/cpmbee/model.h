// CPM-Bee transformer (cpmbee.md): full-sequence forward and the incremental
// (key/value cache) pass used by chat generation.
//
// Parameter names equal the checkpoint keys under "llm." (io::load_module(model, source,
// {"llm."}) or load_weights()). The parameter dtype (fp32 / bf16 / fp16) and device are
// fixed at construction; activations and the cache use the same dtype, with the rounding
// points of cpmbee.md §2 (fp32 softmax/GELU/RMSNorm statistics). Bias tables, rotary
// frequencies and fused weight layouts are built at construction/load time.
//
// Thread-safety: after loading, all const methods may run concurrently on one model, each
// with its own KvCache. Every entry point runs under c10::InferenceMode.
#pragma once

#include "cpmbee/config.h"
#include "cpmbee/inputs.h"
#include "cpmbee/kv_cache.h"
#include "cpmbee/layers.h"

#include <ATen/core/Tensor.h>
#include "common/module.h"

#include <string>
#include <vector>

namespace viscpm::io { class TensorSource; }

namespace viscpm::cpmbee {

enum class LogitsMode { kNone, kLast, kAll };

struct ForwardOutput {
  at::Tensor input_embedding;  // [B, L, D] embeddings fed to layer 0 (after any override)
  at::Tensor hidden_states;    // [B, L, D] after the output RMSNorm
  at::Tensor logits;           // kAll: [B, L, V+E]; kLast: [B, V+E]; kNone: undefined
};

struct StepOutput {
  at::Tensor hidden_states;  // [B, D] after the output RMSNorm
  at::Tensor logits;         // [B, V+E]
};

// OutOfMemory when the weights `config` describes cannot fit in the memory available on
// `device`; checked by the constructor, and by loaders before they build anything else.
void require_weights_fit(const CpmBeeConfig& config, at::ScalarType dtype, at::Device device,
                         WeightFormat matrices = WeightFormat::kDense);

class CpmBeeImpl : public viscpm::nn::Module {
 public:
  // `dtype`: parameters and activations; `matrices`: how the weight matrices are stored
  // (WeightFormat::kInt8: int8 rows with fp32 scales, everything else in `dtype`).
  explicit CpmBeeImpl(const CpmBeeConfig& config, at::ScalarType dtype = at::kFloat,
                      at::Device device = at::kCPU, WeightFormat matrices = WeightFormat::kDense);

  const CpmBeeConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  WeightFormat weight_format() const { return matrices_; }

  // Strictly loads "<prefix>..." keys (converted to the model dtype); keys under
  // ignored_prefixes are skipped. FormatError names missing/unknown keys and bad shapes.
  // An int8 model takes either int8 matrices with their "_scale" rows (a checkpoint
  // written by `viscpm quantize`) or float matrices, quantized tensor by tensor as they
  // are read; a dense model refuses int8 matrices.
  void load_weights(const io::TensorSource& source, const std::string& prefix = "llm.",
                    const std::vector<std::string>& ignored_prefixes = {});
  // Random weights in place (benchmarks, tests), uniform draws with: linear/embedding
  // weights mean 0, deviation `std` (the scaled layers keep activations O(1)); norms mean 1,
  // deviation 0.1; bias table deviation 1. Reduced dtypes are filled from bounded fp32
  // chunks (never a full fp32 copy).
  void init_random_(uint64_t seed, double std = 1.0);
  // Verifies that the fused weight tensors still back the named parameters (true after
  // construction and load_weights); rebuilds them if a loader replaced the tensors.
  void refresh_fused_weights();

  // EmbeddingExt (§4.3): ids/subs int [B, L] -> [B, L, D].
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& subs) const;

  // Full-sequence forward (§7.1): positions 0..L-1, span/length masks. input_embedding
  // ([B, L, D], optional) replaces the token embeddings (e.g. spliced image states).
  ForwardOutput forward(const CpmBeeInputs& inputs, const at::Tensor& input_embedding = {},
                        LogitsMode logits = LogitsMode::kAll) const;

  // A cache for `batch` rows (beams) and up to `capacity` tokens per row (prompt + answer).
  KvCache new_cache(int64_t batch, int64_t capacity) const;

  // Incremental pass over several tokens per row (§7.2), appended to the cache. With a
  // batch-1 input and an empty (or still row-identical) cache of several rows, the tokens
  // are computed once and broadcast to every row. The first call on an empty cache fixes
  // the request constants (segment_rel, ext table, step defaults). Outputs have the
  // computed batch: 1 when broadcast, else the cache batch.
  ForwardOutput prefill(const CpmBeeInputs& inputs, KvCache& cache, const at::Tensor& input_embedding = {},
                        LogitsMode logits = LogitsMode::kLast) const;

  // One token per row (§7.2 with len_q = 1). The prompt keys' bias/mask columns are reused
  // across steps while the rows' query segment fields stay the same.
  StepOutput decode_step(const StepInputs& step, KvCache& cache) const;
  // Before a run of trusted steps whose query segment fields stay fixed (the chat answer:
  // segment `segment_ids`, context 1, sample 0, the prompt's last num_segments/offset):
  // builds the prompt columns of the step tables once, with the one host read that tells
  // whether they depend on the query position. Trusted steps then reuse them when they do
  // not, and rebuild them (without reading) when they do.
  void prepare_trusted_steps(KvCache& cache, const at::Tensor& segment_ids) const;

  EmbeddingExt input_embedding{nullptr};
  BucketPositionBias position_bias{nullptr};
  Encoder encoder{nullptr};

 private:
  struct Tables {
    at::Tensor bias, blocked;  // [B, H, Lq, T], [B, 1, Lq, T]
  };
  // Bias and blocked mask for queries q against keys k (§5, §6). pair_valid ([B, Lq, T],
  // optional) is rule 3 of §6; use_span adds the full pass's span rule to the segment bucket.
  Tables attention_tables(const TokenFields& q, const TokenFields& k, const at::Tensor& segment_rel,
                          const at::Tensor& pair_valid, bool use_span, bool* position_dependent = nullptr,
                          bool check_ranges = true) const;
  // The step tables' columns [begin, begin + count) for queries q (decode steps).
  void fill_step_tables(const TokenFields& q, KvCache& cache, int64_t begin, int64_t count, bool* position_dependent,
                        bool check_ranges) const;
  // trusted: no host read (the mask is applied even when nothing is blocked).
  AttentionPlan make_plan(at::Tensor bias, at::Tensor blocked, int64_t cache_offset, bool trusted = false) const;
  at::Tensor run_layers(at::Tensor h, const AttentionPlan& plan, const KvCache* cache) const;
  at::Tensor logits_of(const at::Tensor& hidden, const at::Tensor& ext_rows) const;

  CpmBeeConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  WeightFormat matrices_;
};

// Whether a checkpoint's CPM-Bee matrices under `prefix` are stored as int8 (written by
// `viscpm quantize`): its embedding "<prefix>input_embedding.weight" is int8.
bool holds_int8_matrices(const io::TensorSource& source, const std::string& prefix = "llm.");
VISCPM_MODULE(CpmBee);

}  // namespace viscpm::cpmbee
