#include "decoding/sampling.h"

#include "common/error.h"
#include "decoding/logits_processor.h"
#include "decoding/text_stream.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/topk.h>

namespace viscpm::decoding {

int64_t sample_index(const at::Tensor& log_probs, int64_t top_k, double top_p, at::Generator& generator) {
  const at::Tensor row = log_probs.reshape({-1}).to(at::kFloat);
  const int64_t width = row.size(0);
  if (width == 0) throw InvalidArgument("sampling: no column to sample from");
  at::Tensor values, indices;
  if (top_k > 0 && top_k < width) {
    std::tie(values, indices) = at::topk(row, top_k, 0, /*largest=*/true, /*sorted=*/true);
  } else {
    std::tie(values, indices) = at::sort(row, /*stable=*/true, 0, /*descending=*/true);
  }
  at::Tensor probs = at::softmax(values, 0);
  if (top_p < 1.0) {
    // Keep the most likely tokens up to and including the one that reaches top_p.
    const int64_t keep = std::max<int64_t>(1, probs.cumsum(0).sub(probs).lt(top_p).sum().item<int64_t>());
    probs = probs.narrow(0, 0, keep);
    indices = indices.narrow(0, 0, keep);
  }
  const at::Tensor cdf = probs.to(at::kDouble).cumsum(0);
  const double u = at::rand({1}, generator, at::TensorOptions().dtype(at::kDouble)).item<double>();
  const at::Tensor threshold = cdf.select(0, cdf.size(0) - 1).mul(u);
  const int64_t choice = std::min<int64_t>(cdf.le(threshold).sum().item<int64_t>(), cdf.size(0) - 1);
  return indices.select(0, choice).item<int64_t>();
}

GenerationResult sample_search(TokenStepper& stepper, const DecodeSpec& spec, const GenerationConfig& config,
                               at::Device device, const GenerationCallbacks& callbacks) {
  config.validate();
  if (config.strategy == DecodingStrategy::kBeamSearch)
    throw InvalidArgument("sample_search: use beam_search for the beam-search strategy");
  if (stepper.rows() != 1) throw InvalidArgument("sample_search needs a one-row model state");
  c10::InferenceMode guard;
  const bool greedy = config.strategy == DecodingStrategy::kGreedy;
  // Greedy ignores the temperature (it does not change the argmax).
  const LogitsProcessor processor(spec, greedy ? 1.0 : config.temperature, config.repetition_penalty, device);
  at::Generator generator = at::detail::createCPUGenerator(config.seed);
  TextStream stream(spec, callbacks);
  GenerationResult result;
  std::vector<int32_t> fed;
  FedToken next{spec.bos_id, 0, 0};
  for (int64_t n = 0; n < config.max_length; ++n) {
    check_cancelled(callbacks);
    fed.push_back(next.id);
    const at::Tensor logits = stepper.step({next});
    ++result.model_steps;
    const at::Tensor log_probs = processor.log_probs(logits, {fed}).select(0, 0);
    const int64_t column = greedy ? log_probs.argmax().item<int64_t>()
                                  : sample_index(log_probs, config.top_k, config.top_p, generator);
    const auto word = static_cast<int32_t>(column);
    result.sum_logprobs += log_probs.select(0, column).item<float>();
    result.token_ids.push_back(word);
    if (word == spec.eos_id) {
      result.ended_with_eos = true;
      break;
    }
    stream.emit(result.token_ids);
    if (word < spec.vocab_size) {
      next = FedToken{word, 0, next.position + 1};
    } else {
      const auto e = static_cast<size_t>(word - spec.vocab_size);
      next = FedToken{spec.ext_ids.at(e), spec.ext_subs.at(e), next.position + 1};
    }
  }
  result.score = result.sum_logprobs;
  stream.finish(result.answer_ids());
  return result;
}

}  // namespace viscpm::decoding
