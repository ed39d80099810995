#include "kernels/cpu/pooled_blas.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>

#include <c10/core/InferenceMode.h>

namespace viscpm::kernels::cpu {

bool blas_blocks_are_exact() {
  // Row blocks at offsets and lengths that are not multiples of any sgemm unroll, and
  // column blocks, against one product; one BLAS thread, as the blocks run.
  static const bool exact = [] {
    c10::InferenceMode guard;
    runtime::keep_blas_on_one_thread();
    const auto gen = at::detail::createCPUGenerator(7);
    const at::Tensor x = at::randn({97, 67}, gen), w = at::randn({67, 89}, gen);
    const at::Tensor full = at::mm(x, w);
    for (int64_t r0 : {1, 17, 37}) {
      if (!at::equal(at::mm(x.narrow(0, r0, 29), w), full.narrow(0, r0, 29))) return false;
    }
    for (int64_t c0 : {3, 41}) {
      if (!at::equal(at::mm(x, w.narrow(1, c0, 23)), full.narrow(1, c0, 23))) return false;
    }
    return true;
  }();
  return exact;
}

int64_t block_parallelism() {
  // Inexact BLAS: the machine's logical CPUs, a constant of the machine (never the thread
  // setting), so that the blocks are as large as a full pool would use.
  static const int64_t fixed = std::max(1, runtime::hardware_threads());
  return blas_blocks_are_exact() ? at::get_num_threads() : fixed;
}

bool blas_work_is_pooled(const at::Tensor& t) {
  const auto dtype = t.scalar_type();
  if (!t.device().is_cpu() || (dtype != at::kFloat && dtype != at::kDouble)) return false;
  if (!blas_blocks_are_exact()) return true;  // fixed blocks at every thread count
  return at::get_num_threads() > 1 && !at::in_parallel_region();
}

at::Tensor pooled_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t K = weight.size(1), N = weight.size(0);
  if (!blas_work_is_pooled(x) || x.dim() < 1 || x.size(-1) != K || x.scalar_type() != weight.scalar_type() ||
      (bias.defined() && (bias.dim() != 1 || bias.scalar_type() != x.scalar_type())) ||
      // at::linear adds the bias after the product for these; keep its arithmetic.
      (bias.defined() && x.dim() != 2 && !x.is_contiguous()))
    return at::linear(x, weight, bias);
  const at::Tensor rows = x.reshape({-1, K});
  const int64_t M = rows.size(0);
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = N;
  at::Tensor out = at::empty({M, N}, x.options());
  const at::Tensor weight_t = weight.t();
  const int64_t threads = block_parallelism();
  if (M < 64 * threads && N >= 256 * threads) {
    // Few rows (a prompt of a hundred tokens), many outputs: blocks of output columns, each a
    // contiguous [M, block] product copied into place; row blocks of a few dozen rows would
    // run BLAS far below its speed.
    for_each_row_block(1, N, 2 * K * M, N, /*pooled=*/true, [&](int64_t, int64_t, int64_t c0, int64_t c1) {
      const at::Tensor w_block = weight_t.narrow(1, c0, c1 - c0);
      at::Tensor block = bias.defined() ? at::addmm(bias.narrow(0, c0, c1 - c0), rows, w_block) : at::mm(rows, w_block);
      out.narrow(1, c0, c1 - c0).copy_(block);
    });
    return out.view(out_sizes);
  }
  for_each_row_block(1, M, 2 * K * N, M, /*pooled=*/true, [&](int64_t, int64_t, int64_t r0, int64_t r1) {
    at::Tensor block = out.narrow(0, r0, r1 - r0);
    if (bias.defined()) at::addmm_out(block, bias, rows.narrow(0, r0, r1 - r0), weight_t);
    else at::mm_out(block, rows.narrow(0, r0, r1 - r0), weight_t);
  });
  return out.view(out_sizes);
}

}  // namespace viscpm::kernels::cpu
