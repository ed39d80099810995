// Types shared by the decoders of chat generation (beam search, greedy, sampling): what a
// decoder must know about the request, the model interface it drives, its settings, the
// streaming/cancellation hooks and its result.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace viscpm::decoding {

enum class DecodingStrategy {
  kBeamSearch,  // the reference's decoder (chat.md §4): token for token identical
  kGreedy,      // extension: argmax of the processed logits
  kSampling,    // extension: top-k / top-p sampling with a seed
};

const char* decoding_strategy_name(DecodingStrategy strategy);

// Settings of one generation call. Defaults are the released VisCPM-Chat settings.
struct GenerationConfig {
  // Bounds validate() enforces; what fits in memory is checked later, from the model's size.
  static constexpr int64_t kMaxBeamSize = 32;
  static constexpr int64_t kMaxLengthLimit = int64_t(1) << 31;
  DecodingStrategy strategy = DecodingStrategy::kBeamSearch;
  int64_t beam_size = 3;
  // Beam search: the reference's max_length (answers have at most max_length + 2 tokens,
  // chat.md §4.6). Greedy/sampling: at most max_length tokens (a final EOS included).
  int64_t max_length = 512;
  double temperature = 0.7;          // > 0; greedy ignores it
  double repetition_penalty = 1.1;   // >= 1; 1 disables it
  double length_penalty = 3.0;       // beam search: score = sum_logprobs / len^length_penalty
  int64_t top_k = 0;                 // sampling: keep the k best tokens (0 = all)
  double top_p = 1.0;                // sampling: smallest set with probability >= top_p (1 = all)
  uint64_t seed = 0;                 // sampling: seed of the CPU generator (one per call)
  // Chat: escape the user's question ('<' -> '<<', so a literal '<' works) and return the
  // answer unescaped. false = the reference's behaviour (question inserted as markup).
  bool escape_text = true;
  int64_t max_input_length = 3000;   // prompt tokens + 2 answer tokens (input-format.md §5)

  // InvalidArgument naming the offending field.
  void validate() const;
};

// Hooks of one call. All are optional and run on the generating thread.
struct GenerationCallbacks {
  // Receives answer text as soon as it is final: for beam search the tokens common to
  // every hypothesis that can still win, for greedy/sampling each new token. The pieces
  // concatenate to the returned answer text.
  std::function<void(const std::string&)> on_text;
  // Polled before every model call; returning false cancels the call (viscpm::Cancelled).
  std::function<bool()> should_continue;
  // Cancels the call when set (from any thread); checked before every model call.
  const std::atomic<bool>* cancel = nullptr;
};

// What a decoder needs to know about the request (input-format.md §6, chat.md §4.3).
struct DecodeSpec {
  int64_t vocab_size = 0;                 // V: vocabulary rows of the logits
  std::vector<int32_t> ext_ids, ext_subs; // request ext table: logit column V + k feeds (ext_ids[k], ext_subs[k])
  std::vector<int32_t> generatable_ids;   // keys of the decoding table (may be generated: UNK, ext columns)
  int32_t bos_id = 6, eos_id = 7, unk_id = 1;
  int64_t logit_width() const { return vocab_size + static_cast<int64_t>(ext_ids.size()); }
  // Text of output ids (raw logit indices, EOS excluded); must satisfy
  // text(a + b) == text(a) + text(b) so streamed pieces add up.
  std::function<std::string(const std::vector<int32_t>&)> text;
};

// One token fed to a row of the model.
struct FedToken {
  int32_t id = 0, sub = 0;
  int64_t position = 0;
};

// The tokens of one step, one per row: int64 [rows] tensors on the model's device.
struct StepTokens {
  at::Tensor ids, subs, positions;
};

// The model side of a decoding request whose prompt is already prefilled: feeds one token
// per row and returns that row's next-token logits. Decoders hand it device tensors and
// never wait for it: an implementation must not read from the device either (no item(),
// no range checks that sync), so a whole step can be captured (CUDA graphs) or queued.
class TokenStepper {
 public:
  virtual ~TokenStepper() = default;
  virtual int64_t rows() const = 0;
  // Returns logits [rows, V'] in the model's dtype. The ids are the decoder's own choices
  // (columns of earlier logits mapped through DecodeSpec), so they are in range.
  virtual at::Tensor step(const StepTokens& tokens) = 0;
  // New row r continues old row parents[r]; parents: int64 [rows] on the device, in range.
  virtual void reorder(const at::Tensor& parents) = 0;
};

// Host rows -> one transfer to `device`: row k of the result is fields[k] (all the same length).
at::Tensor upload_rows(const std::vector<std::vector<int64_t>>& fields, at::Device device);

struct GenerationResult {
  std::vector<int32_t> token_ids;  // output ids of the chosen answer, incl. a final EOS
  bool ended_with_eos = false;
  double sum_logprobs = 0;         // cumulative log-probability (fp32 value)
  double score = 0;                // beam search: sum_logprobs / len^length_penalty; else sum_logprobs
  int64_t model_steps = 0;         // decode steps run (excluding the prefill)
  std::vector<int32_t> answer_ids() const;  // token_ids without the final EOS
};

// Trace of a beam search in the shape of the golden fixtures (chat_beam_search).
struct BeamSearchTrace {
  struct Step {
    int64_t i = 0;
    std::vector<double> beam_scores;
    std::vector<int64_t> token_ids, token_subs, positions, segments;
  };
  struct TopK {
    int64_t i = 0;
    std::vector<double> scores;
    std::vector<int64_t> flat_ids;
    double min_gap = 0;  // smallest gap between consecutive candidates incl. the first left out
  };
  struct Hypothesis {
    int64_t i = 0;
    std::vector<int64_t> token_ids;
    double sum_logprobs = 0, score = 0;
  };
  int64_t answer_segment = 0;  // recorded as fed_segments of real steps
  std::vector<Step> steps;
  std::vector<TopK> topk;
  std::vector<Hypothesis> hypotheses_added;
};

// Raises viscpm::Cancelled when the callbacks ask to stop.
void check_cancelled(const GenerationCallbacks& callbacks);

}  // namespace viscpm::decoding
