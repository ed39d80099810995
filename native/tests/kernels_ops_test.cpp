// kernels/ops.h against plain references written with LibTorch ops (in float64 where the
// kernel rounds in a narrower dtype), on random shapes: every op the models call through.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/erf.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>

#include <ATen/Parallel.h>
#include <ATen/ops/linear.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "common/runtime.h"
#include "kernels/ops.h"
#include "kernels/cpu/pooled_blas.h"
#include <c10/core/InferenceMode.h>
#include <stdexcept>

namespace viscpm::kernels {
namespace {

class KernelsOps : public ::testing::Test {
 protected:
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  std::mt19937 sizes{42};
  int64_t size(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(sizes); }
  at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype = at::kFloat) {
    return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).to(dtype);
  }
};

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor a = actual.to(at::kDouble), e = expected.to(at::kDouble);
  const double worst = (a - e).abs().max().item<double>();
  EXPECT_TRUE(at::allclose(a, e, rtol, atol)) << "worst absolute error " << worst;
}

at::Tensor gelu_erf(const at::Tensor& x) { return 0.5 * x * (1 + at::erf(x / std::sqrt(2.0))); }

TEST_F(KernelsOps, LinearMatchesMatmulForFewAndManyRowsWithAndWithoutBias) {
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t rows = trial < 3 ? size(1, 8) : size(9, 40), k = size(1, 300), n = size(1, 200);
    const at::Tensor x = randn({rows, k}), w = randn({n, k}), b = randn({n});
    const at::Tensor expected = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
    expect_close(kernels::linear(x, w), expected, 1e-4, 1e-5);
    expect_close(kernels::linear(x, w, b), expected + b.to(at::kDouble), 1e-4, 1e-5);
  }
  // fp16 weights (the decode path of half models): fp32 accumulation, one rounding.
  const at::Tensor x = randn({3, 257}, at::kHalf), w = randn({65, 257}, at::kHalf);
  expect_close(kernels::linear(x, w), at::matmul(x.to(at::kDouble), w.to(at::kDouble).t()), 0.1, 1e-2);
  // bf16 weights (the decode path of the released bf16 models): fp32 accumulation, one
  // rounding; so within one bf16 step (2^-8 relative) of the exact product of the inputs.
  const at::Tensor xb = randn({3, 257}, at::kBFloat16), wb = randn({65, 257}, at::kBFloat16);
  const at::Tensor exact = at::matmul(xb.to(at::kDouble), wb.to(at::kDouble).t());
  const at::Tensor got = kernels::linear(xb, wb);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::allclose(got.to(at::kDouble), exact, /*rtol=*/1.0 / 128, /*atol=*/1e-3));
}

// The products and attentions big enough to be cut into row blocks over the thread pool
// (kernels/cpu/pooled_blas) give the same bits at 1 and at 3 threads, and the linear layer the
// same bits as at::linear. (at::set_num_threads directly: more threads than cores still splits.)
TEST_F(KernelsOps, ResultsDoNotDependOnTheThreadCount) {
  const int saved = at::get_num_threads();
  const at::Tensor x2 = randn({301, 200}), x3 = randn({2, 151, 200}), w = randn({150, 200}), b = randn({150});
  const at::Tensor xc = randn({40, 300}), wc = randn({1024, 300}), bc = randn({1024});  // column blocks
  const at::Tensor sq = randn({3, 300, 32}), sk = randn({3, 77, 32}), sv = randn({3, 77, 32});
  const at::Tensor cq = randn({2, 4, 150, 32}), ck = randn({2, 4, 160, 32}), cv = randn({2, 4, 160, 32});
  const at::Tensor cbias = randn({2, 4, 150, 160});
  at::Tensor cblocked = at::rand({2, 1, 150, 160}, gen) < 0.3;
  cblocked.select(2, 7).fill_(true);
  const CpmBeeMask cmask{cbias, cblocked, true};
  AttentionMath math;
  math.scale = 0.125;
  AttentionSettings reference;
  reference.kernel = AttentionKernel::kReference;
  AttentionSettings sliced = reference;
  sliced.max_score_bytes = 300 * 77 * 4;  // one head per slice
  auto run_all = [&] {
    return std::vector<at::Tensor>{kernels::linear(x2, w), kernels::linear(x2, w, b), kernels::linear(x3, w, b), kernels::linear(x3, w),
                                   kernels::linear(xc, wc, bc), kernels::linear(xc, wc),
                                   sdp_attention(sq, sk, sv, math, reference), sdp_attention(sq, sk, sv, math, sliced),
                                   cpmbee_attention_prefill(cq, ck, cv, cmask, 5.0), beit3_attention(sq, sk, sv)};
  };
  at::set_num_threads(1);
  const auto one = run_all();
  const at::Tensor libc = at::linear(xc, wc, bc), libcn = at::linear(xc, wc);
  const at::Tensor lib2 = at::linear(x2, w, b), lib3 = at::linear(x3, w, b), lib2n = at::linear(x2, w);
  at::set_num_threads(3);
  const auto three = run_all();
  at::set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(at::equal(one[i], three[i])) << "output " << i;
  // The blocks equal one whole at::linear where this CPU's BLAS keeps the bits of a block
  // (pooled_blas.h); elsewhere they stay within fp32 rounding of it.
  const std::vector<std::pair<at::Tensor, at::Tensor>> whole{
      {three[1], lib2}, {three[2], lib3}, {three[0], lib2n}, {three[4], libc}, {three[5], libcn}};
  for (const auto& [pooled, plain] : whole) {
    if (cpu::blas_blocks_are_exact()) EXPECT_TRUE(at::equal(pooled, plain));
    else EXPECT_TRUE(at::allclose(pooled, plain, 1e-4, 1e-4));
  }
  EXPECT_TRUE(at::equal(one[6], one[7]));  // slicing changes nothing either
}

// An error in one block (here: thrown on a pool thread) reaches the caller as itself, and
// the blocks run in the caller's inference mode.
TEST_F(KernelsOps, RowBlocksRethrowAndKeepInferenceMode) {
  const int saved = at::get_num_threads();
  at::set_num_threads(2);
  c10::InferenceMode inference;
  const at::Tensor x = randn({400, 300}), w = randn({200, 300});
  EXPECT_TRUE(kernels::linear(x, w).is_inference());
  EXPECT_THROW(cpu::for_each_row_block(1, 64, int64_t{1} << 20, 64, true,
                                       [](int64_t, int64_t, int64_t r0, int64_t) {
                                         if (r0 > 0) throw std::invalid_argument("second block");
                                       }),
               std::invalid_argument);
  at::set_num_threads(saved);
}

// One thread pool: whatever thread count is set, OpenBLAS (when it is LibTorch's BLAS) stays on one thread.
TEST(KernelsRuntime, BlasLibraryStaysOnOneThread) {
  void* handle = ::dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) GTEST_SKIP() << "LibTorch's BLAS is not OpenBLAS in this build";
  auto get = reinterpret_cast<int (*)()>(::dlsym(handle, "openblas_get_num_threads"));
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get(), 1) << "pinned when the library loaded";
  const int saved = runtime::num_threads();
  runtime::set_num_threads(runtime::hardware_threads());
  EXPECT_EQ(get(), 1);
  // Another user of OpenBLAS in the process may raise its threads: the next pooled product
  // puts them back before the pool's threads call BLAS.
  auto set = reinterpret_cast<void (*)(int)>(::dlsym(handle, "openblas_set_num_threads"));
  ASSERT_NE(set, nullptr);
  set(2);
  at::set_num_threads(2);
  const at::Tensor x = at::randn({512, 256}), w = at::randn({256, 256});
  kernels::linear(x, w);
  EXPECT_EQ(get(), 1);
  runtime::set_num_threads(saved);
  ::dlclose(handle);
}

TEST_F(KernelsOps, RmsNormAndScaledResidual) {
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t b = size(1, 3), l = size(1, 9), d = size(2, 130);
    const at::Tensor x = randn({b, l, d}), w = randn({d});
    const at::Tensor xd = x.to(at::kDouble);
    const at::Tensor expected = xd * (xd.pow(2).mean(-1, true) + 1e-6).rsqrt() * w.to(at::kDouble);
    expect_close(rms_norm(x, w, 1e-6), expected, 1e-5, 1e-5);
    expect_close(rms_norm(x.to(at::kBFloat16), w.to(at::kBFloat16), 1e-6), expected, 0.1, 2e-2);

    at::Tensor h = randn({b, l, d});
    const at::Tensor delta = randn({b, l, d});
    const at::Tensor expected_h = (h.to(at::kDouble) + delta.to(at::kDouble)) / 1.05;
    scaled_residual_add_(h, delta, 1.05);
    expect_close(h, expected_h, 1e-6, 1e-6);
  }
}

TEST_F(KernelsOps, GatedGelu) {
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t rows = trial % 2 ? size(1, 4) : size(9, 20), k = size(2, 64), f = size(1, 96);
    const at::Tensor x = randn({1, rows, k}), w = randn({2 * f, k});
    const double divisor = std::sqrt(static_cast<double>(k));
    const at::Tensor both = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t()) / divisor;
    const at::Tensor expected = gelu_erf(both.narrow(-1, 0, f)) * both.narrow(-1, f, f);
    expect_close(gated_gelu(x, w, divisor), expected, 1e-4, 1e-4);
  }
}

TEST_F(KernelsOps, CpmBeeAttentionPrefillAndDecodeWithBiasMaskAndEmptyRows) {
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t b = size(1, 3), h = size(1, 4), l = size(2, 7), t = l + size(0, 5), dh = size(1, 16);
    const at::Tensor q = randn({b, h, l, dh}), k = randn({b, h, t, dh}), v = randn({b, h, t, dh});
    const at::Tensor bias = randn({b, h, l, t});
    at::Tensor blocked = at::rand({b, 1, l, t}, gen) < 0.3;
    blocked.select(2, 0).fill_(true);  // one query row sees no key at all
    const double divisor = std::sqrt(static_cast<double>(dh));
    auto reference = [&](const at::Tensor& qq, const at::Tensor& bb, const at::Tensor& mm) {
      at::Tensor scores = at::matmul(qq.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) / divisor +
                          bb.to(at::kDouble);
      scores = scores.masked_fill(mm, -std::numeric_limits<double>::infinity());
      at::Tensor probs = at::softmax(scores, -1);
      probs = at::where(mm.all(-1, true), at::zeros_like(probs), probs);
      return at::matmul(probs, v.to(at::kDouble)).transpose(1, 2).reshape({b, qq.size(2), h * dh});
    };
    const CpmBeeMask mask{bias, blocked, /*has_empty_rows=*/true};
    expect_close(cpmbee_attention_prefill(q, k, v, mask, divisor), reference(q, bias, blocked), 1e-5, 1e-5);
    // One decode token: the last query row on its own.
    const at::Tensor q1 = q.narrow(2, l - 1, 1), bias1 = bias.narrow(2, l - 1, 1);
    const at::Tensor blocked1 = blocked.narrow(2, l - 1, 1).clone();
    const CpmBeeMask mask1{bias1, blocked1, blocked1.all(-1).any().item<bool>()};
    expect_close(cpmbee_attention_decode(q1, k, v, mask1, divisor), reference(q1, bias1, blocked1), 1e-5, 1e-5);
  }
}

TEST_F(KernelsOps, Beit3Attention) {
  for (int trial = 0; trial < 3; ++trial) {
    const int64_t bh = size(1, 6), n = size(1, 20), d = size(1, 16);
    const at::Tensor q = randn({bh, n, d}), k = randn({bh, n, d}), v = randn({bh, n, d});
    const at::Tensor expected =
        at::matmul(at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(1, 2)), -1), v.to(at::kDouble));
    expect_close(beit3_attention(q, k, v), expected, 1e-5, 1e-5);
    expect_close(beit3_attention(q.to(at::kBFloat16), k.to(at::kBFloat16), v.to(at::kBFloat16)), expected, 0.1, 5e-2);
  }
}

TEST_F(KernelsOps, SdpAttentionBothKernelsAndSlicedHeads) {
  for (int trial = 0; trial < 3; ++trial) {
    const int64_t bh = size(2, 8), n = size(1, 24), m = size(1, 16), d = size(1, 16);
    const at::Tensor q = randn({bh, n, d}), k = randn({bh, m, d}), v = randn({bh, m, d});
    AttentionMath math;
    math.scale = 1.0 / std::sqrt(static_cast<double>(d));
    const at::Tensor expected = at::matmul(
        at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(1, 2)) * math.scale, -1), v.to(at::kDouble));
    AttentionSettings reference;
    reference.kernel = AttentionKernel::kReference;
    AttentionSettings sliced = reference;
    sliced.max_score_bytes = n * m * 4;  // one head per slice
    AttentionSettings fused;
    fused.kernel = AttentionKernel::kFused;
    expect_close(sdp_attention(q, k, v, math, reference), expected, 1e-5, 1e-5);
    expect_close(sdp_attention(q, k, v, math, sliced), expected, 1e-5, 1e-5);
    expect_close(sdp_attention(q, k, v, math, fused), expected, 1e-5, 1e-5);
    // heads <-> batch round trip keeps diffusers' channel order.
    const at::Tensor x = randn({2, n, 3 * d});
    EXPECT_TRUE(at::equal(batch_to_heads(heads_to_batch(x, 3), 3), x));
    EXPECT_TRUE(at::equal(heads_to_batch(x, 3)[1], x[0].narrow(-1, d, d)));
  }
  EXPECT_EQ(AttentionSettings().resolved_for(at::kCPU).kernel, AttentionKernel::kReference);
}

TEST_F(KernelsOps, GroupNormWithAndWithoutSilu) {
  for (int trial = 0; trial < 3; ++trial) {
    const int64_t groups = size(1, 4), c = groups * size(1, 4), b = size(1, 2), hw = size(1, 6);
    const at::Tensor x = randn({b, c, hw, hw}), w = randn({c}), bias = randn({c});
    const at::Tensor g = x.to(at::kDouble).reshape({b, groups, -1});
    const at::Tensor mean = g.mean(-1, true), var = (g - mean).pow(2).mean(-1, true);
    const at::Tensor normed = ((g - mean) / (var + 1e-5).sqrt()).reshape({b, c, hw, hw}) *
                                  w.to(at::kDouble).view({1, c, 1, 1}) +
                              bias.to(at::kDouble).view({1, c, 1, 1});
    expect_close(group_norm(x, groups, w, bias, 1e-5, false), normed, 1e-5, 1e-5);
    expect_close(group_norm(x, groups, w, bias, 1e-5, true), normed / (1 + at::exp(-normed)), 1e-5, 1e-5);
  }
}

TEST_F(KernelsOps, Geglu) {
  const int64_t n = size(1, 12), k = size(1, 32), f = size(1, 24);
  const at::Tensor x = randn({2, n, k}), w = randn({2 * f, k}), b = randn({2 * f});
  const at::Tensor proj = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t()) + b.to(at::kDouble);
  expect_close(geglu(x, w, b), proj.narrow(-1, 0, f) * gelu_erf(proj.narrow(-1, f, f)), 1e-4, 1e-4);
}

TEST_F(KernelsOps, GuidanceAndTheFusedDdpmStep) {
  const at::Tensor u = randn({2, 4, 5, 5}), c = randn({2, 4, 5, 5}), sample = randn({2, 4, 5, 5});
  const at::Tensor z = randn({2, 4, 5, 5});
  const at::Tensor guided = u.to(at::kDouble) + 7.5 * (c.to(at::kDouble) - u.to(at::kDouble));
  expect_close(classifier_free_guidance(u, c, 7.5), guided, 1e-5, 1e-5);
  DdpmStepCoefficients k;
  k.sqrt_beta_prod_t = 0.6f;
  k.sqrt_alpha_prod_t = 0.8f;
  k.original_sample_coeff = 0.3f;
  k.current_sample_coeff = 0.7f;
  k.noise_std = 0.1f;
  const at::Tensor x0 = (sample.to(at::kDouble) - 0.6f * guided) / 0.8f;
  const at::Tensor prev = 0.3f * x0 + 0.7f * sample.to(at::kDouble);
  expect_close(ddpm_guided_step(u, c, 7.5, sample, z, k), prev + 0.1f * z.to(at::kDouble), 1e-4, 1e-5);
  expect_close(ddpm_guided_step(u, c, 7.5, sample, at::Tensor(), k), prev, 1e-4, 1e-5);
}

}  // namespace
}  // namespace viscpm::kernels
