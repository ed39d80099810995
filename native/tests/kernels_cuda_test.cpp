// kernels/cuda against kernels/cpu: every CUDA kernel on random shapes and dtypes, fresh
// random inputs each run (the seed is printed), outputs poisoned before the call. The
// ground truth is the LibTorch implementation in float64 on the CPU; a kernel passes when
// its error is within a small multiple of the error the LibTorch implementation itself
// makes in the same dtype on the same device (kernels disabled), plus a floor for fp32.
// Without a GPU, or in a build without VISCPM_CUDA, every test skips and says why.
#include <ATen/Context.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "kernels/ops.h"

namespace viscpm::kernels {
namespace {

class KernelsCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_kernels_built()) GTEST_SKIP() << "built without VISCPM_CUDA: no CUDA kernels to test";
    if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device on this machine";
    seed = std::random_device{}();
    std::printf("[ seed     ] %u\n", seed);
    sizes.seed(seed);
    at::manual_seed(seed);
    set_cuda_kernels_enabled(true);
  }
  void TearDown() override { set_cuda_kernels_enabled(true); }

  int64_t size(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(sizes); }
  at::ScalarType dtype_for(int trial) {
    static const at::ScalarType all[] = {at::kFloat, at::kHalf, at::kBFloat16};
    return all[trial % 3];
  }
  // Standard normal values, exactly representable in `dtype`, on the CPU in float64.
  at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype) {
    return at::randn(shape, at::TensorOptions().dtype(at::kFloat)).to(dtype).to(at::kDouble);
  }
  at::Tensor cuda(const at::Tensor& t, at::ScalarType dtype) { return t.to(at::kCUDA, dtype); }

  // Runs op once with the CUDA kernels and once with the LibTorch implementation (both in
  // `dtype` on the GPU) and compares both to the float64 CPU result.
  void check(const std::string& what, at::ScalarType dtype, const std::function<at::Tensor()>& on_gpu,
             const at::Tensor& truth) {
    poison_allocator();
    set_cuda_kernels_enabled(true);
    const at::Tensor kernel = on_gpu().to(at::kCPU, at::kDouble);
    set_cuda_kernels_enabled(false);
    const at::Tensor libtorch = on_gpu().to(at::kCPU, at::kDouble);
    set_cuda_kernels_enabled(true);
    ASSERT_EQ(kernel.sizes(), truth.sizes()) << what;
    const double scale = std::max(1.0, truth.abs().max().item<double>());
    const double kernel_error = (kernel - truth).abs().max().item<double>();
    const double libtorch_error = (libtorch - truth).abs().max().item<double>();
    const double floor = (dtype == at::kFloat ? 2e-5 : 1e-3) * scale;
    EXPECT_FALSE(std::isnan(kernel_error)) << what << ": NaN in the kernel output (poisoned memory not written?)";
    EXPECT_LE(kernel_error, 2.0 * libtorch_error + floor)
        << what << " (" << c10::toString(dtype) << "): kernel error " << kernel_error << ", LibTorch's own "
        << libtorch_error << " (seed " << seed << ")";
  }
  // NaN into the blocks the caching allocator hands out next.
  static void poison_allocator() {
    for (int64_t bytes : {int64_t{1} << 16, int64_t{1} << 20, int64_t{1} << 24}) {
      at::Tensor t = at::empty({bytes / 4}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
      t.fill_(std::numeric_limits<float>::quiet_NaN());
    }
  }

  unsigned seed = 0;
  std::mt19937 sizes;
  c10::InferenceMode inference;
};

TEST_F(KernelsCuda, RmsNorm) {
  for (int trial = 0; trial < 9; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t rows = size(1, 6), dim = trial < 3 ? 4096 : size(8, 1500);
    const at::Tensor x = randn({rows, 1, dim}, dtype) * 3, w = randn({dim}, dtype);
    check("rms_norm", dtype, [&] { return rms_norm(cuda(x, dtype), cuda(w, dtype), 1e-6); }, rms_norm(x, w, 1e-6));
  }
}

TEST_F(KernelsCuda, ScaledResidualAddInPlace) {
  for (int trial = 0; trial < 6; ++trial) {
    const auto dtype = dtype_for(trial);
    const at::Tensor h = randn({size(1, 3), size(1, 40), size(1, 700)}, dtype), d = randn(h.sizes(), dtype);
    at::Tensor truth = h.clone();
    scaled_residual_add_(truth, d, 1.1);
    check("scaled_residual_add_", dtype, [&] {
      at::Tensor g = cuda(h, dtype);
      scaled_residual_add_(g, cuda(d, dtype), 1.1);
      return g;
    }, truth);
  }
}

TEST_F(KernelsCuda, LinearWithoutBiasForOneToFourRows) {
  for (int trial = 0; trial < 12; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t rows = 1 + trial % 4, k = 8 * size(1, 600), n = size(1, 3000);
    const at::Tensor x = randn({rows, k}, dtype), w = randn({n, k}, dtype) * 0.05;
    check("linear (gemv)", dtype, [&] { return linear(cuda(x, dtype), cuda(w, dtype)); }, linear(x, w));
  }
}

TEST_F(KernelsCuda, GatedGeluForDecodeAndPrefillRows) {
  for (int trial = 0; trial < 6; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t rows = trial < 3 ? size(1, 3) : size(5, 40), k = 8 * size(1, 128), ff = size(1, 700);
    const at::Tensor x = randn({1, rows, k}, dtype), w = randn({2 * ff, k}, dtype) * 0.1;
    const double divisor = std::sqrt(static_cast<double>(k));
    check("gated_gelu", dtype, [&] { return gated_gelu(cuda(x, dtype), cuda(w, dtype), divisor); },
          gated_gelu(x, w, divisor));
  }
}

TEST_F(KernelsCuda, CpmBeeDecodeAttentionOverCacheViewsWithBiasAndMask) {
  for (int trial = 0; trial < 12; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t batch = size(1, 3), heads = size(1, 8), dim_head = trial % 2 ? 128 : 64;
    const int64_t total = trial < 3 ? size(1, 40) : size(41, 1200), capacity = total + size(0, 64);
    // q as a slice of a fused qkv row, keys/values as views of a larger cache, as the model.
    const at::Tensor qkv = randn({batch, 1, 3 * heads * dim_head}, dtype);
    const at::Tensor cache_k = randn({batch, heads, capacity, dim_head}, dtype);
    const at::Tensor cache_v = randn({batch, heads, capacity, dim_head}, dtype);
    const bool shared_bias = trial % 3 == 0;
    const at::Tensor bias = randn({shared_bias ? 1 : batch, heads, 1, total}, dtype);
    at::Tensor blocked = at::rand({batch, 1, 1, total}) < 0.3;
    const bool empty_row = trial % 4 == 1;
    if (empty_row) blocked[0].fill_(true);
    const double divisor = std::sqrt(static_cast<double>(dim_head));
    auto run = [&](const at::Tensor& qkv_, const at::Tensor& k_, const at::Tensor& v_, const at::Tensor& bias_,
                   const at::Tensor& blocked_) {
      const at::Tensor q = qkv_.narrow(-1, 0, heads * dim_head).view({batch, 1, heads, dim_head}).transpose(1, 2);
      return cpmbee_attention_decode(q, k_.narrow(2, 0, total), v_.narrow(2, 0, total),
                                     CpmBeeMask{bias_, blocked_, empty_row}, divisor);
    };
    check("cpmbee_attention_decode", dtype, [&] {
      return run(cuda(qkv, dtype), cuda(cache_k, dtype), cuda(cache_v, dtype), cuda(bias, dtype), blocked.cuda());
    }, run(qkv, cache_k, cache_v, bias, blocked));
  }
}

TEST_F(KernelsCuda, CpmBeePrefillAttentionWithBiasAndMask) {
  for (int trial = 0; trial < 6; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t batch = size(1, 2), heads = size(1, 4), dim_head = 64, len = size(2, 90);
    const at::Tensor q = randn({batch, heads, len, dim_head}, dtype), k = randn(q.sizes(), dtype),
                     v = randn(q.sizes(), dtype), bias = randn({batch, heads, len, len}, dtype);
    at::Tensor blocked = at::rand({batch, 1, len, len}) < 0.3;
    blocked.select(3, 0).fill_(false);  // every query sees key 0: no empty rows
    const double divisor = std::sqrt(static_cast<double>(dim_head));
    check("cpmbee_attention_prefill", dtype, [&] {
      return cpmbee_attention_prefill(cuda(q, dtype), cuda(k, dtype), cuda(v, dtype),
                                      CpmBeeMask{cuda(bias, dtype), blocked.cuda(), false}, divisor);
    }, cpmbee_attention_prefill(q, k, v, CpmBeeMask{bias, blocked, false}, divisor));
  }
}

TEST_F(KernelsCuda, GroupNormWithAndWithoutSilu) {
  for (int trial = 0; trial < 6; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t groups = 32, channels = groups * size(1, 10), side = size(1, 24);
    const at::Tensor x = randn({size(1, 2), channels, side, side}, dtype) * 2 + 0.5;
    const at::Tensor w = randn({channels}, dtype), b = randn({channels}, dtype);
    const bool silu = trial % 2 == 0;
    check("group_norm", dtype, [&] { return group_norm(cuda(x, dtype), groups, cuda(w, dtype), cuda(b, dtype), 1e-5, silu); },
          group_norm(x, groups, w, b, 1e-5, silu));
  }
}

TEST_F(KernelsCuda, Geglu) {
  for (int trial = 0; trial < 6; ++trial) {
    const auto dtype = dtype_for(trial);
    const int64_t k = size(1, 200), ff = size(1, 300);
    const at::Tensor x = randn({size(1, 2), size(1, 70), k}, dtype), w = randn({2 * ff, k}, dtype) * 0.1,
                     b = randn({2 * ff}, dtype);
    check("geglu", dtype, [&] { return geglu(cuda(x, dtype), cuda(w, dtype), cuda(b, dtype)); }, geglu(x, w, b));
  }
}

TEST_F(KernelsCuda, GuidanceAndFusedDdpmStep) {
  for (int trial = 0; trial < 6; ++trial) {
    const auto dtype = dtype_for(trial);
    const at::Tensor guided = randn({2 * size(1, 2), 4, size(1, 64), 16}, dtype);
    const int64_t half = guided.size(0) / 2;
    const at::Tensor uncond = guided.narrow(0, 0, half), cond = guided.narrow(0, half, half);
    const at::Tensor sample = randn(uncond.sizes(), dtype), noise = randn(uncond.sizes(), dtype);
    check("classifier_free_guidance", dtype,
          [&] { return classifier_free_guidance(cuda(uncond, dtype), cuda(cond, dtype), 7.5); },
          classifier_free_guidance(uncond, cond, 7.5));
    const DdpmStepCoefficients c{0.6f, 0.8f, 0.3f, 0.65f, trial % 2 ? 0.1f : 0.f};
    const at::Tensor step_noise = trial % 2 ? noise : at::Tensor();
    check("ddpm_guided_step", dtype, [&] {
      return ddpm_guided_step(cuda(uncond, dtype), cuda(cond, dtype), 7.5, cuda(sample, dtype),
                              step_noise.defined() ? cuda(step_noise, dtype) : at::Tensor(), c);
    }, ddpm_guided_step(uncond, cond, 7.5, sample, step_noise, c));
  }
}

}  // namespace
}  // namespace viscpm::kernels
