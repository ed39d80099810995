#include "kernels/cpu/pooled_blas.h"

#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>

namespace viscpm::kernels::cpu {

bool blas_work_is_pooled(const at::Tensor& t) {
  const auto dtype = t.scalar_type();
  return t.device().is_cpu() && (dtype == at::kFloat || dtype == at::kDouble) && at::get_num_threads() > 1 &&
         !at::in_parallel_region();
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
  const int64_t threads = at::get_num_threads();
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
