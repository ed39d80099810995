// The cached pass against the full forward and against the plain reference formulation,
// on random small models: prefill + steps, beams, cache reorder.
#include "testkit/reference/cpmbee_reference.h"
#include "cpmbee_test_support.h"
#include "common/host_read.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

using namespace viscpm::cpmbee;
using namespace viscpm::cpmbee::testing;

namespace {
constexpr double kTol = 2e-5;  // fp32 summation-order noise on O(1) activations
}

// Chat style: all-context prompt, answer tokens fed with context 1 at positions 0, 1, ...
TEST(CpmBeeIncremental, ChatStepsEqualFullForward) {
  const auto config = small_config();
  auto model = random_model(config, 1);
  const auto req = random_request(config, 40, 6, 2, false, /*some_other_sample=*/true);
  const std::vector<int64_t> tokens = {5, 17, 3, 88};
  auto full = model->forward(with_answer(req, tokens), {}, LogitsMode::kAll);

  KvCache cache = model->new_cache(1, 40 + 4);
  auto pre = model->prefill(req.prompt, cache, {}, LogitsMode::kAll);
  EXPECT_LT(max_diff(pre.hidden_states, full.hidden_states.narrow(1, 0, 40)), kTol);
  EXPECT_LT(max_diff(pre.logits, full.logits.narrow(1, 0, 40)), kTol);
  for (int64_t i = 0; i < 4; ++i) {
    auto out = model->decode_step(chat_step({tokens[i]}, i, req.answer_segment), cache);
    EXPECT_LT(max_diff(out.hidden_states, full.hidden_states.select(1, 40 + i)), kTol) << "step " << i;
    EXPECT_LT(max_diff(out.logits, full.logits.select(1, 40 + i)), kTol) << "step " << i;
    EXPECT_EQ(out.logits.size(1), config.vocab_size + 2);  // ext columns
  }
  EXPECT_EQ(cache.length(), 44);
}

// Generic: non-context prompt tokens and non-context steps at continuing positions.
TEST(CpmBeeIncremental, CausalStepsEqualFullForward) {
  const auto config = small_config();
  auto model = random_model(config, 3);
  const auto req = random_request(config, 30, 5, 4, /*some_non_context=*/true, true);
  const std::vector<int64_t> tokens = {1, 2, 60}, subs = {0, 2, 1};
  auto full = model->forward(with_answer(req, tokens, subs), {}, LogitsMode::kAll);
  KvCache cache = model->new_cache(1, 64);
  model->prefill(req.prompt, cache, {}, LogitsMode::kNone);
  for (int64_t i = 0; i < 3; ++i) {
    StepInputs s = chat_step({tokens[i]}, 30 + i, req.answer_segment);
    s.token_subs = at::full({1}, subs[i], at::kLong);
    s.context = at::zeros({1}, at::kLong);
    auto out = model->decode_step(s, cache);
    EXPECT_LT(max_diff(out.logits, full.logits.select(1, 30 + i)), kTol) << "step " << i;
  }
}

// Chunked prefill: two prefill calls equal one when no token of the first chunk may see
// the second (context tokens attend bidirectionally, so the second chunk holds the
// non-context tail).
TEST(CpmBeeIncremental, ChunkedPrefillEqualsOne) {
  const auto config = small_config();
  auto model = random_model(config, 5);
  const auto req = random_request(config, 24, 4, 6, true);
  KvCache one = model->new_cache(1, 24);
  auto whole = model->prefill(req.prompt, one, {}, LogitsMode::kAll);
  KvCache two = model->new_cache(1, 24);
  auto part = [&](int64_t begin, int64_t n) {
    CpmBeeInputs p = req.prompt;
    for (auto* t : {&p.input_ids, &p.input_id_subs, &p.positions, &p.context, &p.sample_ids, &p.num_segments,
                    &p.segment_ids, &p.segment_rel_offset})
      *t = t->narrow(1, begin, n);
    return p;
  };
  model->prefill(part(0, 21), two, {}, LogitsMode::kNone);
  auto second = model->prefill(part(21, 3), two, {}, LogitsMode::kAll);
  EXPECT_LT(max_diff(second.logits, whole.logits.narrow(1, 21, 3)), kTol);
  c10::InferenceMode guard;
  for (int64_t l = 0; l < config.num_layers; ++l) EXPECT_LT(max_diff(two.keys(l), one.keys(l)), kTol);
}

// Several beams fed different tokens equal one full forward per beam.
TEST(CpmBeeIncremental, BeamsEqualPerRowFullForward) {
  const auto config = small_config();
  auto model = random_model(config, 7);
  const auto req = random_request(config, 33, 6, 8);
  const std::vector<std::vector<int64_t>> rows = {{4, 9, 2}, {4, 11, 11}, {50, 0, 96}};
  KvCache cache = model->new_cache(3, 40);
  model->prefill(req.prompt, cache, {}, LogitsMode::kNone);  // batch-1 prompt broadcast to 3 rows
  EXPECT_EQ(cache.shared_length(), 33);
  std::vector<at::Tensor> logits;
  for (int64_t i = 0; i < 3; ++i)
    logits.push_back(model->decode_step(chat_step({rows[0][i], rows[1][i], rows[2][i]}, i, req.answer_segment), cache).logits);
  for (int64_t b = 0; b < 3; ++b) {
    auto full = model->forward(with_answer(req, rows[b]), {}, LogitsMode::kAll);
    for (int64_t i = 0; i < 3; ++i)
      EXPECT_LT(max_diff(logits[i][b], full.logits[0][33 + i]), kTol) << "row " << b << " step " << i;
  }
}

// Optimised cached path == the plain transliteration of the reference, step by step,
// including beam reorders, for a broadcast prompt and for distinct prompts per row.
TEST(CpmBeeIncremental, MatchesReferenceFormulationWithReorders) {
  const auto config = small_config();
  auto model = random_model(config, 9);
  for (bool distinct_rows : {false, true}) {
    SCOPED_TRACE(distinct_rows ? "distinct prompts" : "broadcast prompt");
    const auto req = random_request(config, 28, 6, 10, false, true);
    CpmBeeInputs prompt3 = req.prompt;  // three rows for the reference (as the beam search does)
    for (auto* t : {&prompt3.input_ids, &prompt3.input_id_subs, &prompt3.positions, &prompt3.context,
                    &prompt3.sample_ids, &prompt3.num_segments, &prompt3.segment_ids, &prompt3.segment_rel_offset,
                    &prompt3.segment_rel})
      *t = t->expand({3, t->size(1)}).contiguous();
    if (distinct_rows) prompt3.input_ids = at::randint(0, config.vocab_size, {3, 28}, at::kLong);

    KvCache cache = model->new_cache(3, 40);
    auto pre = model->prefill(distinct_rows ? prompt3 : req.prompt, cache, {}, LogitsMode::kLast);
    reference::Buffers ref;
    auto ref_pre = reference::inference(*model, prompt3, ref);
    EXPECT_LT(max_diff(pre.logits.expand({3, pre.logits.size(1)}), ref_pre.logits.select(1, 27)), kTol);
    EXPECT_EQ(cache.shared_length(), distinct_rows ? 0 : 28);

    const std::vector<std::vector<int64_t>> feed = {{6, 6, 6}, {10, 20, 30}, {7, 8, 9}, {1, 2, 3}, {40, 41, 42}};
    const std::vector<std::vector<int64_t>> reorders = {{0, 1, 2}, {2, 0, 0}, {1, 1, 2}, {2, 1, 0}};
    for (size_t i = 0; i < feed.size(); ++i) {
      StepInputs s = chat_step(feed[i], static_cast<int64_t>(i), req.answer_segment);
      auto out = model->decode_step(s, cache);
      CpmBeeInputs r;
      r.input_ids = s.token_ids.unsqueeze(1);
      r.input_id_subs = s.token_subs.unsqueeze(1);
      r.positions = s.positions.unsqueeze(1);
      r.context = at::ones({3, 1}, at::kLong);
      r.sample_ids = at::zeros({3, 1}, at::kLong);
      r.num_segments = prompt3.num_segments.narrow(1, 27, 1);
      r.segment_ids = s.segment_ids.unsqueeze(1);
      r.segment_rel_offset = prompt3.segment_rel_offset.narrow(1, 27, 1);
      r.segment_rel = prompt3.segment_rel;
      r.ext_table_ids = req.prompt.ext_table_ids;
      r.ext_table_sub = req.prompt.ext_table_sub;
      auto ref_out = reference::inference(*model, r, ref);
      EXPECT_LT(max_diff(out.logits, ref_out.logits.select(1, 0)), kTol) << "step " << i;
      EXPECT_LT(max_diff(out.hidden_states, ref_out.hidden_states.select(1, 0)), kTol) << "step " << i;
      if (i < reorders.size()) {
        at::Tensor idx = at::tensor(reorders[i], at::kLong);
        cache.reorder(idx);
        reference::reorder(ref, idx);
        c10::InferenceMode guard;
        for (int64_t l = 0; l < config.num_layers; ++l) {
          EXPECT_LT(max_diff(cache.keys(l), ref.k[l]), kTol);
          EXPECT_LT(max_diff(cache.values(l), ref.v[l]), kTol);
        }
        EXPECT_TRUE(at::equal(cache.key_positions(), ref.position));
        EXPECT_TRUE(at::equal(cache.key_segments(), ref.segments));
      }
    }
  }
}

// After reorders, every row's cache equals the cache recomputed from that row's history.
TEST(CpmBeeIncremental, ReorderedCacheEqualsRecomputed) {
  const auto config = small_config();
  auto model = random_model(config, 11);
  const auto req = random_request(config, 20, 4, 12);
  KvCache cache = model->new_cache(3, 30);
  model->prefill(req.prompt, cache, {}, LogitsMode::kNone);
  std::vector<std::vector<int64_t>> history(3);
  const std::vector<std::vector<int64_t>> feed = {{6, 6, 6}, {13, 14, 15}, {21, 22, 23}, {31, 32, 33}};
  const std::vector<std::vector<int64_t>> reorders = {{0, 1, 2}, {2, 2, 0}, {1, 0, 1}};
  StepOutput last;
  for (size_t i = 0; i < feed.size(); ++i) {
    last = model->decode_step(chat_step(feed[i], static_cast<int64_t>(i), req.answer_segment), cache);
    for (int b = 0; b < 3; ++b) history[b].push_back(feed[i][b]);
    if (i < reorders.size()) {
      cache.reorder(at::tensor(reorders[i], at::kInt));
      auto old = history;
      for (int b = 0; b < 3; ++b) history[b] = old[reorders[i][b]];
    }
  }
  // The last step was not followed by a reorder: its outputs belong to history rows.
  for (int b = 0; b < 3; ++b) {
    KvCache fresh = model->new_cache(1, 30);
    model->prefill(req.prompt, fresh, {}, LogitsMode::kNone);
    StepOutput out;
    for (size_t i = 0; i < history[b].size(); ++i)
      out = model->decode_step(chat_step({history[b][i]}, static_cast<int64_t>(i), req.answer_segment), fresh);
    EXPECT_LT(max_diff(out.logits[0], last.logits[b]), kTol) << "row " << b;
    c10::InferenceMode guard;
    for (int64_t l = 0; l < config.num_layers; ++l) {
      EXPECT_LT(max_diff(fresh.keys(l)[0], cache.keys(l)[b]), kTol) << "row " << b << " layer " << l;
      EXPECT_LT(max_diff(fresh.values(l)[0], cache.values(l)[b]), kTol) << "row " << b << " layer " << l;
    }
    EXPECT_TRUE(at::equal(fresh.key_positions()[0], cache.key_positions()[b]));
  }
}

// A cleared cache serves a new request like a fresh one.
TEST(CpmBeeIncremental, ClearedCacheIsReusable) {
  const auto config = small_config();
  auto model = random_model(config, 13);
  const auto a = random_request(config, 12, 3, 14), b = random_request(config, 18, 5, 15);
  KvCache cache = model->new_cache(2, 24);
  model->prefill(a.prompt, cache, {}, LogitsMode::kNone);
  model->decode_step(chat_step({1, 2}, 0, a.answer_segment), cache);
  cache.clear();
  auto reused = model->prefill(b.prompt, cache, {}, LogitsMode::kLast);
  auto step = model->decode_step(chat_step({3, 3}, 0, b.answer_segment), cache);
  KvCache fresh = model->new_cache(2, 24);
  auto expected = model->prefill(b.prompt, fresh, {}, LogitsMode::kLast);
  auto expected_step = model->decode_step(chat_step({3, 3}, 0, b.answer_segment), fresh);
  EXPECT_TRUE(at::equal(reused.logits, expected.logits));
  EXPECT_TRUE(at::equal(step.logits, expected_step.logits));
}

// The decoders' path (trusted steps and reorders) reads nothing from the device and gives
// the same bytes as the checked path.
TEST(CpmBeeIncremental, TrustedStepsReadNothingAndMatchCheckedSteps) {
  const auto config = small_config();
  auto model = random_model(config, 11);
  const auto req = random_request(config, 20, 5, 8, false, true);
  KvCache checked = model->new_cache(3, 40), trusted = model->new_cache(3, 40), prepared = model->new_cache(3, 40);
  model->prefill(req.prompt, checked, {}, LogitsMode::kLast);
  model->prefill(req.prompt, trusted, {}, LogitsMode::kLast);
  model->prefill(req.prompt, prepared, {}, LogitsMode::kLast);
  model->prepare_trusted_steps(prepared, at::full({3}, req.answer_segment, at::kLong));
  const std::vector<std::vector<int64_t>> feed = {{6, 6, 6}, {10, 20, 30}, {7, 8, 9}, {1, 2, 3}};
  const at::Tensor parents = at::tensor(std::vector<int64_t>{2, 0, 0}, at::kLong);
  for (size_t i = 0; i < feed.size(); ++i) {
    StepInputs s = chat_step(feed[i], static_cast<int64_t>(i), req.answer_segment);
    s.token_subs = at::tensor(std::vector<int64_t>{0, static_cast<int64_t>(i % 2), 0}, at::kLong);
    const at::Tensor expected = model->decode_step(s, checked).logits;
    checked.reorder(parents);
    s.trusted = true;
    at::Tensor got, got_prepared;
    {
      viscpm::HostReadCounter reads;
      got = model->decode_step(s, trusted).logits;
      trusted.reorder(parents, /*trusted=*/true);
      got_prepared = model->decode_step(s, prepared).logits;
      prepared.reorder(parents, /*trusted=*/true);
      EXPECT_EQ(reads.count(), 0) << "step " << i;
    }
    EXPECT_TRUE(at::equal(got, expected)) << "step " << i << ": " << max_diff(got, expected);
    EXPECT_TRUE(at::equal(got_prepared, expected)) << "step " << i << ": " << max_diff(got_prepared, expected);
  }
  // The checked path does read (the counter sees it).
  viscpm::HostReadCounter reads;
  model->decode_step(chat_step({1, 2, 3}, 9, req.answer_segment), checked);
  EXPECT_GT(reads.count(), 0);
}
