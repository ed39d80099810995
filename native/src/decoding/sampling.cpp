#include "decoding/sampling.h"

#include "common/error.h"
#include "decoding/logits_processor.h"
#include "decoding/text_stream.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <ATen/core/Generator.h>
#include <ATen/core/DistributionsHelper.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/full.h>
#include <ATen/ops/minimum.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <mutex>

#include "common/host_read.h"

namespace viscpm::decoding {

namespace {

// One uniform draw in [0, 1) from a CPU generator, on the host (no tensor, no device).
double uniform_draw(at::Generator& generator) {
  auto* g = at::check_generator<at::CPUGeneratorImpl>(generator);
  std::lock_guard<std::mutex> lock(generator.mutex());
  at::uniform_real_distribution<double> uniform(0.0, 1.0);
  return uniform(g);
}

}  // namespace

at::Tensor sample_column(const at::Tensor& log_probs, int64_t top_k, double top_p, double u) {
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
  const int64_t n = probs.size(0);
  // Keep the most likely tokens up to and including the one that reaches top_p (at least
  // one); the rest get probability 0, so the cumulative sum stops growing after them.
  at::Tensor keep = at::full({}, n, at::TensorOptions().dtype(at::kLong).device(row.device()));
  if (top_p < 1.0) {
    keep = probs.cumsum(0).sub(probs).lt(top_p).sum().clamp_min(1);
    probs = at::where(at::arange(n, keep.options()).lt(keep), probs, at::zeros_like(probs));
  }
  const at::Tensor cdf = probs.to(at::kDouble).cumsum(0);
  const at::Tensor threshold = cdf.select(0, n - 1).mul(u);
  const at::Tensor choice = at::minimum(cdf.le(threshold).sum(), keep - 1);
  return indices.index_select(0, choice.reshape({1})).reshape({});
}

int64_t sample_index(const at::Tensor& log_probs, int64_t top_k, double top_p, at::Generator& generator) {
  return read_to_host(sample_column(log_probs, top_k, top_p, uniform_draw(generator))).item<int64_t>();
}

GenerationResult sample_search(TokenStepper& stepper, const DecodeSpec& spec, const GenerationConfig& config,
                               at::Device device, const GenerationCallbacks& callbacks) {
  config.validate();
  if (config.strategy == DecodingStrategy::kBeamSearch)
    throw InvalidArgument("sample_search: use beam_search for the beam-search strategy");
  if (stepper.rows() != 1) throw InvalidArgument("sample_search needs a one-row model state");
  const int64_t width = spec.logit_width();
  if (spec.bos_id < 0 || spec.bos_id >= width) throw InvalidArgument("sampling: BOS id outside the logits");
  for (int32_t id : spec.ext_ids)
    if (id < 0 || id >= width) throw InvalidArgument("sampling: ext table id " + std::to_string(id) + " outside the logits");
  c10::InferenceMode guard;
  const bool greedy = config.strategy == DecodingStrategy::kGreedy;
  // Greedy ignores the temperature (it does not change the argmax).
  const LogitsProcessor processor(spec, greedy ? 1.0 : config.temperature, config.repetition_penalty, device);
  at::Generator generator = at::detail::createCPUGenerator(config.seed);
  TextStream stream(spec, callbacks);
  GenerationResult result;
  at::Tensor fed_ids = at::zeros({1, std::max<int64_t>(1, config.max_length)}, at::TensorOptions().dtype(at::kLong).device(device));
  FedToken next{spec.bos_id, 0, 0};
  for (int64_t n = 0; n < config.max_length; ++n) {
    check_cancelled(callbacks);
    const at::Tensor feed = upload_rows({{next.id}, {next.sub}, {next.position}}, device);
    fed_ids.select(1, n).copy_(feed[0]);
    const at::Tensor logits = stepper.step(StepTokens{feed[0], feed[1], feed[2]});
    ++result.model_steps;
    const at::Tensor log_probs = processor.log_probs(logits, fed_ids.narrow(1, 0, n + 1)).select(0, 0);
    const at::Tensor column = greedy ? log_probs.argmax()
                                     : sample_column(log_probs, config.top_k, config.top_p, uniform_draw(generator));
    // The one read of the step: the chosen column and its log-probability.
    const at::Tensor chosen =
        read_to_host(at::stack({column.to(at::kDouble), log_probs.index_select(0, column.reshape({1})).reshape({}).to(at::kDouble)}));
    const auto word = static_cast<int32_t>(chosen.data_ptr<double>()[0]);
    result.sum_logprobs += static_cast<float>(chosen.data_ptr<double>()[1]);
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
