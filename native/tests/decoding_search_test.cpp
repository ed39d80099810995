// Decoders on a fake model: logits processing rules, beam-search bookkeeping (length cap,
// done test, placeholder step, finished-hypothesis list), streaming, cancellation,
// greedy/sampling determinism.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/log.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "common/error.h"
#include "common/host_read.h"
#include "decoding/beam_search.h"
#include "decoding/logits_processor.h"
#include "decoding/sampling.h"
#include "decoding_fake_model.h"

namespace viscpm::decoding {
namespace {

using viscpm::testing::FakeStepper;
using viscpm::testing::fake_spec;

GenerationConfig beam_config(int64_t max_length) {
  GenerationConfig c;
  c.max_length = max_length;
  return c;
}

TEST(GenerateLogitsProcessor, MasksUnknownAndUnmappedExtColumns) {
  DecodeSpec spec = fake_spec(10, {1, 1, 1}, {1, 2, 3});
  spec.generatable_ids = {11};  // only the second ext column decodes
  LogitsProcessor p(spec, 1.0, 1.0, at::kCPU);
  const at::Tensor out = p.mask_disallowed(at::zeros({2, 13}));
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_EQ(out[r][1].item<float>(), -10000.0f);   // UNK
    EXPECT_EQ(out[r][10].item<float>(), -10000.0f);  // ext 0
    EXPECT_EQ(out[r][11].item<float>(), 0.0f);       // mapped ext column
    EXPECT_EQ(out[r][12].item<float>(), -10000.0f);
    EXPECT_EQ(out[r][7].item<float>(), 0.0f);
  }
  spec.generatable_ids = {1};  // the prompt's first unknown text decodes from UNK itself
  LogitsProcessor allowed(spec, 1.0, 1.0, at::kCPU);
  EXPECT_EQ(allowed.mask_disallowed(at::zeros({1, 13}))[0][1].item<float>(), 0.0f);
}

TEST(GenerateLogitsProcessor, RepetitionPenaltyOncePerDistinctTokenBySign) {
  LogitsProcessor p(fake_spec(10), 1.0, 2.0, at::kCPU);
  at::Tensor l = at::tensor({1.0f, -1.0f, 4.0f, -3.0f, 0.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f}).view({1, 10});
  p.apply_repetition_penalty_(l, {{0, 1, 1, 6, 4}});
  EXPECT_FLOAT_EQ(l[0][0].item<float>(), 0.5f);   // positive: divided
  EXPECT_FLOAT_EQ(l[0][1].item<float>(), -2.0f);  // negative: multiplied, once despite two feeds
  EXPECT_FLOAT_EQ(l[0][6].item<float>(), 3.0f);   // BOS is penalised like any fed token
  EXPECT_FLOAT_EQ(l[0][4].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(l[0][2].item<float>(), 4.0f);   // not fed: untouched
  EXPECT_THROW(p.apply_repetition_penalty_(l, {{0}, {1}}), InvalidArgument);
}

TEST(GenerateLogitsProcessor, LogSoftmaxIsRoundedToTheLogitsDtype) {
  const at::Tensor l = at::randn({2, 50}).to(at::kHalf);
  const at::Tensor lp = LogitsProcessor::log_softmax_rounded(l);
  EXPECT_EQ(lp.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(lp, lp.to(at::kHalf).to(at::kFloat)));  // representable in fp16
  const at::Tensor exact = at::log_softmax(l.to(at::kFloat), -1);
  EXPECT_LT((lp - exact).abs().max().item<float>(), 5e-3f);
}

TEST(GenerateBeamSearch, LengthCapGivesMaxLengthPlusTwoTokens) {
  FakeStepper model(3, 20);
  model.bias = [](const std::vector<int32_t>&, at::Tensor row) { row[7] = -1e4; };  // never EOS
  DecodeSpec spec = fake_spec(20);
  BeamSearchTrace trace;
  const auto result = beam_search(model, spec, beam_config(4), at::kCPU, {}, &trace);
  EXPECT_EQ(result.token_ids.size(), 6u);  // max_length + 2
  EXPECT_FALSE(result.ended_with_eos);
  EXPECT_EQ(result.model_steps, 6);
  EXPECT_EQ(trace.steps.size(), 6u);  // steps 0..M, no placeholder
  EXPECT_EQ(trace.topk.size(), 6u);
  // At the last step every candidate finishes: 6 additions.
  int64_t at_last = 0;
  for (const auto& h : trace.hypotheses_added) at_last += h.i == 5;
  EXPECT_EQ(at_last, 6);
  EXPECT_EQ(trace.steps[0].beam_scores, (std::vector<double>{0.0, -1e9, -1e9}));
  EXPECT_EQ(trace.steps[0].token_ids, (std::vector<int64_t>{6, 6, 6}));
  for (size_t i = 0; i < trace.steps.size(); ++i)
    for (int64_t p : trace.steps[i].positions) EXPECT_EQ(p, static_cast<int64_t>(i));
}

TEST(GenerateBeamSearch, DoneTestStopsWithAPlaceholderStep) {
  FakeStepper model(3, 20);
  // EOS becomes very likely once a row has fed 3 tokens.
  model.bias = [](const std::vector<int32_t>& fed, at::Tensor row) {
    if (fed.size() >= 3) row[7] = 20.0;
  };
  BeamSearchTrace trace;
  const auto result = beam_search(model, fake_spec(20), beam_config(50), at::kCPU, {}, &trace);
  EXPECT_TRUE(result.ended_with_eos);
  ASSERT_EQ(trace.steps.size(), trace.topk.size() + 1);
  const auto& placeholder = trace.steps.back();
  EXPECT_EQ(placeholder.i, static_cast<int64_t>(trace.topk.size()));
  EXPECT_EQ(placeholder.token_ids, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(placeholder.beam_scores, (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(result.model_steps, static_cast<int64_t>(trace.topk.size()));  // the placeholder is not run
  // Scores follow sum / len^3 and the best of the kept three is returned.
  for (const auto& h : trace.hypotheses_added)
    EXPECT_DOUBLE_EQ(h.score, h.sum_logprobs / std::pow(static_cast<double>(h.token_ids.size()), 3.0));
  EXPECT_DOUBLE_EQ(result.score, result.sum_logprobs / std::pow(static_cast<double>(result.token_ids.size()), 3.0));
}

TEST(GenerateBeamSearch, ExtTokensFeedTheirClassIdAndSub) {
  FakeStepper model(3, 22);
  DecodeSpec spec = fake_spec(20, {1, 1}, {1, 2});
  spec.generatable_ids = {20, 21};
  // Make ext column 21 the favourite at the first step.
  model.bias = [](const std::vector<int32_t>& fed, at::Tensor row) {
    row[7] = -1e4;
    if (fed.size() == 1) row[21] = 50.0;
  };
  BeamSearchTrace trace;
  const auto result = beam_search(model, spec, beam_config(2), at::kCPU, {}, &trace);
  EXPECT_EQ(result.token_ids.front(), 21);  // output keeps the raw logit index
  EXPECT_EQ(trace.steps[1].token_ids[0], 1);  // fed as its class id ...
  EXPECT_EQ(trace.steps[1].token_subs[0], 2);  // ... with its sub id
}

TEST(GenerateBeamSearch, StreamedTextAddsUpToTheAnswer) {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    FakeStepper model(3, 30, seed);
    model.bias = [](const std::vector<int32_t>& fed, at::Tensor row) { row[7] += 0.5 * static_cast<double>(fed.size()); };
    DecodeSpec spec = fake_spec(30);
    std::string streamed;
    int pieces = 0;
    GenerationCallbacks cb;
    cb.on_text = [&](const std::string& s) {
      streamed += s;
      ++pieces;
    };
    const auto result = beam_search(model, spec, beam_config(12), at::kCPU, cb);
    EXPECT_EQ(streamed, spec.text(result.answer_ids())) << "seed " << seed;
    if (!result.answer_ids().empty()) EXPECT_GT(pieces, 0);
  }
}

TEST(GenerateBeamSearch, CancellationFlagAndListener) {
  FakeStepper model(3, 20);
  std::atomic<bool> cancel{true};
  GenerationCallbacks cb;
  cb.cancel = &cancel;
  EXPECT_THROW(beam_search(model, fake_spec(20), beam_config(5), at::kCPU, cb), Cancelled);
  EXPECT_EQ(model.calls, 0);

  FakeStepper model2(3, 20);
  int polls = 0;
  GenerationCallbacks stop_later;
  stop_later.should_continue = [&] { return ++polls < 3; };
  EXPECT_THROW(beam_search(model2, fake_spec(20), beam_config(50), at::kCPU, stop_later), Cancelled);
  EXPECT_EQ(model2.calls, 2);
}

TEST(GenerateBeamSearch, RejectsBadSettings) {
  FakeStepper model(2, 20);
  EXPECT_THROW(beam_search(model, fake_spec(20), beam_config(5), at::kCPU), InvalidArgument);  // 2 rows, 3 beams
  GenerationConfig c = beam_config(5);
  c.beam_size = 2;
  c.temperature = 0;
  EXPECT_THROW(beam_search(model, fake_spec(20), c, at::kCPU), InvalidArgument);
  c.temperature = 0.7;
  c.repetition_penalty = 0.5;
  EXPECT_THROW(beam_search(model, fake_spec(20), c, at::kCPU), InvalidArgument);
}

GenerationConfig sampling_config(uint64_t seed) {
  GenerationConfig c;
  c.strategy = DecodingStrategy::kSampling;
  c.max_length = 15;
  c.temperature = 1.0;
  c.top_k = 8;
  c.top_p = 0.9;
  c.seed = seed;
  return c;
}

std::vector<int32_t> run_sampling(const GenerationConfig& c, uint64_t model_seed = 5) {
  FakeStepper model(1, 40, model_seed);
  model.bias = [](const std::vector<int32_t>&, at::Tensor row) { row[7] = -1e4; };
  return sample_search(model, fake_spec(40), c, at::kCPU).token_ids;
}

TEST(GenerateSampling, SameSeedSameTokens) {
  const auto a = run_sampling(sampling_config(11));
  EXPECT_EQ(a, run_sampling(sampling_config(11)));
  EXPECT_EQ(a.size(), 15u);  // max_length tokens when no EOS comes
  bool differs = false;
  for (uint64_t seed = 12; seed < 20 && !differs; ++seed) differs = run_sampling(sampling_config(seed)) != a;
  EXPECT_TRUE(differs);
}

TEST(GenerateSampling, TopKOneIsGreedy) {
  GenerationConfig greedy = sampling_config(0);
  greedy.strategy = DecodingStrategy::kGreedy;
  GenerationConfig top1 = sampling_config(99);
  top1.top_k = 1;
  EXPECT_EQ(run_sampling(greedy), run_sampling(top1));
  EXPECT_EQ(run_sampling(greedy), run_sampling(greedy));
}

TEST(GenerateSampling, TopPKeepsTheTokensReachingP) {
  // Probabilities 0.5, 0.3, 0.2: top_p 0.6 keeps the first two, never the third.
  const at::Tensor lp = at::log(at::tensor({0.2f, 0.5f, 0.3f}));
  at::Generator gen = at::detail::createCPUGenerator(3);
  for (int k = 0; k < 200; ++k) EXPECT_NE(sample_index(lp, 0, 0.6, gen), 0);
  int64_t ones = 0;
  for (int k = 0; k < 400; ++k) ones += sample_index(lp, 0, 1.0, gen) == 1;
  EXPECT_GT(ones, 150);
  EXPECT_LT(ones, 250);
}

TEST(GenerateSampling, StopsAtEosAndStreamsEachToken) {
  FakeStepper model(1, 40);
  model.bias = [](const std::vector<int32_t>& fed, at::Tensor row) {
    row[7] = fed.size() == 4 ? 100.0 : -1e4;
  };
  GenerationConfig c = sampling_config(1);
  c.strategy = DecodingStrategy::kGreedy;
  std::vector<std::string> pieces;
  GenerationCallbacks cb;
  cb.on_text = [&](const std::string& s) { pieces.push_back(s); };
  DecodeSpec spec = fake_spec(40);
  const auto result = sample_search(model, spec, c, at::kCPU, cb);
  EXPECT_TRUE(result.ended_with_eos);
  EXPECT_EQ(result.token_ids.size(), 4u);
  EXPECT_EQ(pieces.size(), 3u);
  std::string all;
  for (const auto& p : pieces) all += p;
  EXPECT_EQ(all, spec.text(result.answer_ids()));
  EXPECT_EQ(model.positions, (std::vector<int64_t>{0, 1, 2, 3}));
}

// The decoders read from the device once per step (the ranked candidates / the chosen
// column) and nothing else: the fake model reads nothing, so every counted read is theirs.
TEST(GenerateDecoding, OneDeviceReadPerStep) {
  {
    FakeStepper model(3, 30);
    viscpm::HostReadCounter reads;
    const auto result = beam_search(model, fake_spec(30), beam_config(12), at::kCPU, {});
    EXPECT_EQ(reads.count(), result.model_steps);
  }
  for (auto strategy : {DecodingStrategy::kGreedy, DecodingStrategy::kSampling}) {
    FakeStepper model(1, 30);
    GenerationConfig c = sampling_config(5);
    c.strategy = strategy;
    viscpm::HostReadCounter reads;
    const auto result = sample_search(model, fake_spec(30), c, at::kCPU, {});
    EXPECT_EQ(reads.count(), result.model_steps) << decoding_strategy_name(strategy);
  }
}

}  // namespace
}  // namespace viscpm::decoding
