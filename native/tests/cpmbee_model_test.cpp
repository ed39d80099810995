// CPM-Bee building blocks and the full forward: bucket function, rotary table, masks,
// rounding points of the reduced-precision path, loading and fused weights.
#include "common/error.h"
#include "kernels/ops.h"
#include "cpmbee_test_support.h"
#include "io/tensor_source.h"

#include <c10/core/InferenceMode.h>
#include <c10/util/Half.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <cmath>
#include <filesystem>

using namespace viscpm::cpmbee;
using namespace viscpm::cpmbee::testing;

TEST(CpmBeeBlocks, PositionBucketsMatchSpecBoundaries) {
  BucketPositionBias bias(CpmBeeConfig::cpm_bee_10b(), ParamSpec{});
  c10::InferenceMode guard;
  // cpmbee.md §5.3: distance a at which bucket b starts (a >= 64), both directions.
  const std::vector<std::pair<int64_t, int64_t>> starts = {
      {64, 64}, {68, 65}, {72, 66}, {89, 70}, {117, 75}, {325, 94}, {909, 113}, {1941, 127}};
  for (auto [a, b] : starts) {
    auto bucket = [&](int64_t r) { return bias->position_bucket(at::tensor({r}, at::kLong)).item<int64_t>(); };
    EXPECT_EQ(bucket(-a), b) << a;
    EXPECT_EQ(bucket(-(a - 1)), b - 1) << a;
    EXPECT_EQ(bucket(a), 128 + b) << a;
  }
  auto bucket = [&](int64_t r) { return bias->position_bucket(at::tensor({r}, at::kLong)).item<int64_t>(); };
  EXPECT_EQ(bucket(0), 0);
  EXPECT_EQ(bucket(1), 129);
  EXPECT_EQ(bucket(-1), 1);
  EXPECT_EQ(bucket(-63), 63);
  EXPECT_EQ(bucket(-100000), 127);
  EXPECT_EQ(bucket(100000), 255);
  // Segment buckets land in rows 256.. (bucket = 256 + segbucket - 1).
  EXPECT_EQ(bias->bucket(at::tensor({5}, at::kLong), at::tensor({3}, at::kLong)).item<int64_t>(), 260);
  EXPECT_EQ(bias->bucket(at::tensor({0}, at::kLong), at::tensor({3}, at::kLong)).item<int64_t>(), 131);
}

TEST(CpmBeeBlocks, RotaryTableIsComputedInFp32) {
  EmbeddingExt emb(1, 4096, ParamSpec{at::kHalf, at::kCPU});
  ASSERT_EQ(emb->inv_freq.size(0), 2048);
  // cpmbee.md §4.3: entry 901 rounds (half-way, to even) to 0x2474 from the fp32 value.
  EXPECT_EQ(emb->inv_freq[901].item<c10::Half>().x, 0x2474);
  EXPECT_EQ(emb->inv_freq[0].item<float>(), 1.0f);
}

// fp16 path: the rotary transform rounds at every listed point (cpmbee.md §4.3).
TEST(CpmBeeBlocks, RotaryFp16RoundingPoints) {
  EmbeddingExt emb(5, 64, ParamSpec{at::kHalf, at::kCPU});
  c10::InferenceMode guard;
  emb->weight.copy_(at::randn({5, 64}).mul_(3));
  at::Tensor ids = at::tensor({0, 1, 2, 3, 4}, at::kLong), subs = at::tensor({0, 1, 7, 300, 2047}, at::kLong);
  at::Tensor out = emb->forward(ids, subs);
  auto r16 = [](const at::Tensor& x) { return x.to(at::kHalf).to(at::kFloat); };
  at::Tensor e = r16(emb->weight.to(at::kFloat) / 8.0);  // sqrt(64)
  at::Tensor p = r16(subs.to(at::kFloat) * 16);
  at::Tensor theta = r16(p.unsqueeze(1) * emb->inv_freq.to(at::kFloat));
  at::Tensor c = r16(theta.cos()), s = r16(theta.sin());
  at::Tensor c2 = at::cat({c, c}, 1), s2 = at::cat({s, s}, 1);
  at::Tensor rot = at::cat({-e.narrow(1, 32, 32), e.narrow(1, 0, 32)}, 1);
  at::Tensor expected = r16(r16(e * c2) + r16(rot * s2));
  EXPECT_TRUE(at::equal(out.to(at::kFloat), expected));
  EXPECT_TRUE(at::equal(out[0].to(at::kFloat), e[0]));  // sub 0 = no rotation
}

TEST(CpmBeeBlocks, RmsNormFp16HasTwoRoundings) {
  c10::InferenceMode guard;
  at::Tensor x = at::randn({3, 4096}).mul_(20).to(at::kHalf), w = at::randn({4096}).to(at::kHalf);
  at::Tensor y = viscpm::kernels::rms_norm(x, w, 1e-6);
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor t = (xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-6)).to(at::kHalf);
  at::Tensor expected = (t.to(at::kFloat) * w.to(at::kFloat)).to(at::kHalf);
  EXPECT_TRUE(at::equal(y, expected));
}

// Rows with no visible key (padding beyond `length`) produce zeros, not NaN, and do not
// disturb the valid rows.
TEST(CpmBeeForward, PaddingRowsAreFullyMaskedAndFinite) {
  const auto config = small_config();
  auto model = random_model(config, 21);
  const auto req = random_request(config, 20, 4, 22);
  CpmBeeInputs padded = req.prompt, trimmed = req.prompt;
  padded.length = at::tensor({15}, at::kLong);
  for (auto* t : {&trimmed.input_ids, &trimmed.input_id_subs, &trimmed.context, &trimmed.sample_ids,
                  &trimmed.num_segments, &trimmed.segment_ids, &trimmed.segment_rel_offset})
    *t = t->narrow(1, 0, 15);
  auto a = model->forward(padded, {}, LogitsMode::kAll);
  auto b = model->forward(trimmed, {}, LogitsMode::kAll);
  EXPECT_TRUE(at::isfinite(a.hidden_states).all().item<bool>());
  EXPECT_LT(max_diff(a.hidden_states.narrow(1, 0, 15), b.hidden_states), 2e-5);
  EXPECT_LT(max_diff(a.logits.narrow(1, 0, 15), b.logits), 1e-5);
}

// Different spans are different samples: span 1 tokens do not see span 0 tokens.
TEST(CpmBeeForward, SpansAreIndependent) {
  const auto config = small_config();
  auto model = random_model(config, 23);
  const auto req = random_request(config, 16, 3, 24);
  CpmBeeInputs both = req.prompt;
  both.span = at::cat({at::zeros({1, 8}, at::kLong), at::ones({1, 8}, at::kLong)}, 1);
  auto a = model->forward(both, {}, LogitsMode::kNone);
  CpmBeeInputs first = req.prompt;
  for (auto* t : {&first.input_ids, &first.input_id_subs, &first.context, &first.sample_ids, &first.num_segments,
                  &first.segment_ids, &first.segment_rel_offset})
    *t = t->narrow(1, 0, 8);
  auto b = model->forward(first, {}, LogitsMode::kNone);
  EXPECT_LT(max_diff(a.hidden_states.narrow(1, 0, 8), b.hidden_states), 2e-5);
  EXPECT_FALSE(at::allclose(a.hidden_states.narrow(1, 8, 8), model->forward(req.prompt, {}, LogitsMode::kNone)
                                                                  .hidden_states.narrow(1, 8, 8)));
}

// The embedding override replaces the token embeddings (image splice) and nothing else.
TEST(CpmBeeForward, EmbeddingOverrideAndSplice) {
  const auto config = small_config();
  auto model = random_model(config, 25);
  const auto req = random_request(config, 12, 3, 26);
  at::Tensor states = at::randn({1, 4, config.dim_model});
  at::Tensor emb = splice_image_states(model->embed(req.prompt.input_ids, req.prompt.input_id_subs).clone(),
                                       at::tensor({3, 7}, at::kLong).reshape({1, 1, 2}), states);
  auto out = model->forward(req.prompt, emb, LogitsMode::kNone);
  EXPECT_TRUE(at::equal(out.input_embedding.narrow(1, 3, 4), states));
  EXPECT_TRUE(at::equal(out.input_embedding.narrow(1, 0, 3),
                        model->embed(req.prompt.input_ids, req.prompt.input_id_subs).narrow(1, 0, 3)));
  EXPECT_THROW(splice_image_states(emb.clone(), at::tensor({10, 14}, at::kLong), states), viscpm::InvalidArgument);
}

// Reduced precision runs end to end and stays near fp32; the cache reproduces the full
// pass in the same dtype.
TEST(CpmBeeForward, ReducedPrecisionPaths) {
  const auto config = small_config();
  auto reference = random_model(config, 27);
  const auto req = random_request(config, 24, 4, 28);
  auto full32 = reference->forward(with_answer(req, {3, 4}), {}, LogitsMode::kNone);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(dtype));
    CpmBee model(config, dtype);
    {
      c10::InferenceMode guard;
      for (auto& p : model->named_parameters()) p.value().copy_(reference->parameter(p.key()));
    }
    auto full = model->forward(with_answer(req, {3, 4}), {}, LogitsMode::kAll);
    EXPECT_EQ(full.hidden_states.scalar_type(), dtype);
    const double loose = dtype == at::kHalf ? 0.05 : 0.3;
    EXPECT_LT(max_diff(full.hidden_states, full32.hidden_states), loose);
    KvCache cache = model->new_cache(1, 26);
    model->prefill(req.prompt, cache, {}, LogitsMode::kNone);
    model->decode_step(chat_step({3}, 0, req.answer_segment), cache);
    auto step = model->decode_step(chat_step({4}, 1, req.answer_segment), cache);
    // Same dtype, same rounding points: only GEMM shapes differ between the two passes.
    EXPECT_LT(max_diff(step.hidden_states[0], full.hidden_states[0][25]), loose / 2);
  }
}

TEST(CpmBeeLoad, SafetensorsRoundTripKeepsFusedWeights) {
  const auto config = small_config();
  auto source_model = random_model(config, 31);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& p : source_model->named_parameters()) tensors.emplace_back("llm." + p.key(), p.value().contiguous());
  tensors.emplace_back("vpm.other", at::zeros({2}));  // keys of other modules are not ours
  const auto dir = std::filesystem::temp_directory_path() / ("cpmbee_load_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  viscpm::io::save_safetensors(dir / "ok.safetensors", tensors);

  CpmBee loaded(config);
  loaded->load_weights(*viscpm::io::TensorSource::open(dir / "ok.safetensors"));
  const auto& att = *loaded->encoder->blocks[1]->self_att->self_attention;
  EXPECT_EQ(att.project_k->weight.data_ptr(), att.qkv_weight.narrow(0, config.attention_width(), 1).data_ptr());
  const auto req = random_request(config, 10, 3, 32);
  EXPECT_TRUE(at::equal(loaded->forward(req.prompt).logits, source_model->forward(req.prompt).logits));

  // Missing key, wrong shape: FormatError naming the key.
  auto missing = tensors;
  missing.erase(missing.begin() + 3);
  viscpm::io::save_safetensors(dir / "missing.safetensors", missing);
  try {
    CpmBee m(config);
    m->load_weights(*viscpm::io::TensorSource::open(dir / "missing.safetensors"));
    ADD_FAILURE() << "no error";
  } catch (const viscpm::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(tensors[3].first), std::string::npos) << e.what();
  }
  auto bad_shape = tensors;
  bad_shape[0].second = at::zeros({config.vocab_size, config.dim_model + 1});
  viscpm::io::save_safetensors(dir / "shape.safetensors", bad_shape);
  CpmBee m(config);
  EXPECT_THROW(m->load_weights(*viscpm::io::TensorSource::open(dir / "shape.safetensors")), viscpm::FormatError);
  std::filesystem::remove_all(dir);
}

// A loader that swaps parameter storage (set_data) is repaired by refresh_fused_weights.
TEST(CpmBeeLoad, RefreshRebuildsFusedWeights) {
  const auto config = small_config();
  auto model = random_model(config, 33);
  const auto req = random_request(config, 10, 3, 34);
  at::Tensor before = model->forward(req.prompt).logits;
  auto& att = *model->encoder->blocks[0]->self_att->self_attention;
  {
    c10::InferenceMode guard;
    att.project_v->weight.set_data(att.project_v->weight.clone() * 2);  // now detached from qkv_weight
  }
  model->refresh_fused_weights();
  EXPECT_EQ(att.project_v->weight.data_ptr(),
            att.qkv_weight.narrow(0, 2 * config.attention_width(), 1).data_ptr());
  EXPECT_FALSE(at::equal(model->forward(req.prompt).logits, before));  // the doubled weights are used
}

#include "kernels/cpu/small_batch_gemm.h"

// The decode-step GEMM kernel equals an fp32-accumulated product, rounded once.
TEST(CpmBeeBlocks, SmallBatchLinearMatchesFp32Product) {
  c10::InferenceMode guard;
  if (!viscpm::kernels::cpu::small_batch_kernel_active()) GTEST_SKIP() << "CPU lacks AVX/FMA/F16C: at::linear is used";
  for (bool avx512 : {true, false}) {  // the AVX-512 form for 16-bit weights, where the CPU has it
  viscpm::kernels::cpu::set_small_batch_avx512_enabled(avx512);
  for (int64_t k : {8, 37, 256, 2100}) {
    at::Tensor w = at::randn({300, k});
    for (int64_t rows : {1, 3, 8, 9}) {
      at::Tensor x = at::randn({rows, 1, k});
      at::Tensor expected = at::linear(x.to(at::kDouble), w.to(at::kDouble));
      for (auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
        // k = 2100 is there for the 16-bit weights' interleaved rows (k >= 2048); fp32 weights
        // take the same code at every k, and their bound below is sized for k <= 256.
        if (k > 256 && dtype == at::kFloat) continue;
        SCOPED_TRACE(std::string(c10::toString(dtype)) + " rows " + std::to_string(rows) + " k " + std::to_string(k));
        at::Tensor xd = x.to(dtype), wd = w.to(dtype);
        at::Tensor exact = at::linear(xd.to(at::kDouble), wd.to(at::kDouble));  // exact products of the rounded operands
        at::Tensor y = viscpm::kernels::cpu::small_batch_linear(xd, wd);
        ASSERT_EQ(y.scalar_type(), dtype);
        ASSERT_EQ(y.sizes(), expected.sizes());
        // One rounding of an fp32 accumulation: within half an output ulp plus fp32 noise.
        const double ulp = dtype == at::kFloat ? 5e-5 : (dtype == at::kHalf ? 1.0 / 1024 : 1.0 / 128);  // fp32: summation noise of k terms
        at::Tensor err = (y.to(at::kDouble) - exact).abs() / (exact.abs() + 1);
        EXPECT_LT(err.max().item<double>(), ulp) << "max error";
      }
    }
  }
  }
  viscpm::kernels::cpu::set_small_batch_avx512_enabled(true);
}
