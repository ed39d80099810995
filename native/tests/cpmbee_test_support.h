// Random small CPM-Bee models and requests for the cpmbee_* tests.
#pragma once

#include "cpmbee/model.h"

#include <ATen/core/Tensor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/div.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <vector>

namespace viscpm::cpmbee::testing {

// A small config that exercises the general shapes: heads·dim_head != dim_model, few
// buckets and a short max distance so the log buckets and the cap are reached.
inline CpmBeeConfig small_config() {
  CpmBeeConfig c;
  c.vocab_size = 97;
  c.dim_model = 32;
  c.num_heads = 4;
  c.dim_head = 6;
  c.dim_ff = 40;
  c.num_layers = 3;
  c.position_bias_num_buckets = 32;
  c.position_bias_num_segment_buckets = 48;
  c.position_bias_max_distance = 24;
  c.half = false;
  return c;
}

inline CpmBee random_model(const CpmBeeConfig& config, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  CpmBee model(config, dtype);
  model->init_random_(seed);
  return model;
}

struct Request {
  CpmBeeInputs prompt;      // batch 1, positions 0..L-1
  int64_t answer_segment;   // a segment no prompt token is in
  int64_t num_segments;
};

// A prompt of `len` tokens in segments 0..n-2 (segment n-1 is left for the answer), a
// random relation table (0 on the diagonal, never 1), a few non-zero sub ids, optionally
// a few non-context tokens at the end and tokens of an in-context sample (sample id 1).
inline Request random_request(const CpmBeeConfig& config, int64_t len, int64_t n, uint64_t seed,
                              bool some_non_context = false, bool some_other_sample = false, int64_t ext = 2) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto ints = [&](int64_t lo, int64_t hi, at::IntArrayRef shape) {
    return at::randint(lo, hi, shape, gen, at::TensorOptions().dtype(at::kLong));
  };
  Request r;
  r.num_segments = n;
  r.answer_segment = n - 1;
  auto& p = r.prompt;
  p.input_ids = ints(0, config.vocab_size, {1, len});
  p.input_id_subs = ints(0, 4, {1, len}) * (ints(0, 4, {1, len}) == 0);  // mostly 0
  p.positions = at::arange(len, at::kLong).unsqueeze(0);
  p.context = at::ones({1, len}, at::kLong);
  if (some_non_context) p.context.narrow(1, len - 3, 3).zero_();
  p.sample_ids = at::zeros({1, len}, at::kLong);
  if (some_other_sample) p.sample_ids.narrow(1, len / 3, 4).fill_(1);
  p.num_segments = at::full({1, len}, n, at::kLong);
  p.segment_ids = at::div(at::arange(len, at::kLong) * (n - 1), len, "floor").unsqueeze(0);
  p.segment_rel_offset = at::zeros({1, len}, at::kLong);
  at::Tensor rel = ints(2, config.position_bias_num_segment_buckets + 1, {n, n});
  rel.fill_diagonal_(0);
  p.segment_rel = rel.reshape({1, n * n});
  p.ext_table_ids = ints(0, config.vocab_size, {ext});
  p.ext_table_sub = ints(1, 5, {ext});
  return r;
}

// The prompt followed by `tokens` [k] (subs 0) as non-context tokens of the answer segment:
// the full-pass equivalent of the cached steps.
inline CpmBeeInputs with_answer(const Request& r, const std::vector<int64_t>& tokens,
                                const std::vector<int64_t>& subs = {}) {
  const int64_t k = static_cast<int64_t>(tokens.size());
  auto append = [&](const at::Tensor& head, const at::Tensor& tail) { return at::cat({head, tail.reshape({1, k})}, 1); };
  CpmBeeInputs f = r.prompt;
  f.positions = at::Tensor();
  f.input_ids = append(r.prompt.input_ids, at::tensor(tokens, at::kLong));
  f.input_id_subs = append(r.prompt.input_id_subs, subs.empty() ? at::zeros({k}, at::kLong) : at::tensor(subs, at::kLong));
  f.context = append(r.prompt.context, at::zeros({k}, at::kLong));
  f.sample_ids = append(r.prompt.sample_ids, at::zeros({k}, at::kLong));
  f.num_segments = append(r.prompt.num_segments, at::full({k}, r.num_segments, at::kLong));
  f.segment_ids = append(r.prompt.segment_ids, at::full({k}, r.answer_segment, at::kLong));
  f.segment_rel_offset = append(r.prompt.segment_rel_offset, at::zeros({k}, at::kLong));
  return f;
}

// One step input for every row: tokens[b], chat-style (context 1, positions `position`).
inline StepInputs chat_step(const std::vector<int64_t>& tokens, int64_t position, int64_t segment) {
  const int64_t rows = static_cast<int64_t>(tokens.size());
  StepInputs s;
  s.token_ids = at::tensor(tokens, at::kLong);
  s.token_subs = at::zeros({rows}, at::kLong);
  s.positions = at::full({rows}, position, at::kLong);
  s.segment_ids = at::full({rows}, segment, at::kLong);
  return s;
}

inline double max_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace viscpm::cpmbee::testing
