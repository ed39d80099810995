// GEMM-shaped work shared out over LibTorch's intra-op pool, the one CPU thread pool of this
// process. LibTorch's CPU build calls OpenBLAS for fp32/fp64 products, and OpenBLAS keeps a
// pthread pool of its own whose workers busy-wait for ~0.1 s after every call: next to the
// OpenMP pool they take the cores the other pool needs (a mid-size UNet step: 0.30 s on one
// thread, 2.0 s on two). common/runtime therefore runs OpenBLAS on one thread, and the
// products big enough to share are cut here into blocks of rows, one BLAS call per block on
// each intra-op thread. Each block is one BLAS call over the same data as the unsplit call.
//
// Whether a block of a product has the same bits as the unsplit product depends on the BLAS
// kernels the CPU gets: OpenBLAS's AVX-512 (SkylakeX) sgemm keeps them, its AVX2 (Haswell,
// Zen) sgemm does not (other row counts and offsets take other edge kernels). A probe at
// first use decides between two blockings:
//   exact BLAS:  blocks per pool thread, taken only with more than one thread; any split
//                equals the unsplit at::linear.
//   other BLAS:  blocks fixed by the shape and the machine alone (sized for as many threads as
//                it has logical CPUs), taken at every thread count, so the thread setting
//                never changes a result.
// kernels_ops_test checks that 1 and 3 threads give the same bits on either kind of CPU.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>

#include "common/runtime.h"

namespace viscpm::kernels::cpu {

// Whether row and column blocks of an fp32 product equal the unsplit product bit for bit on
// this CPU (probed once).
bool blas_blocks_are_exact();
// The thread count blocks are sized for: the pool's (exact BLAS) or the machine's logical
// CPUs (inexact BLAS, whatever the pool has).
int64_t block_parallelism();

// Whether the work is cut into blocks: a CPU tensor of a dtype LibTorch hands to the BLAS
// library (reduced precision goes through oneDNN or ATen's own kernels, which use the pool
// themselves) and, with exact BLAS, a pool of more than one thread that we are not already
// inside of (with inexact BLAS the same blocks run inline there).
bool blas_work_is_pooled(const at::Tensor& t);

// y = x·Wᵀ (+ b): at::linear's arithmetic (addmm with the bias, mm without) on row blocks.
at::Tensor pooled_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// Runs f(batch_begin, batch_end, row_begin, row_end) over a [batch, rows] grid, each call a
// block of at most max_rows rows: one block per thread of block_parallelism() when the work
// (flops_per_row per row) is big enough to share, the whole grid in one call otherwise. For
// row-independent work (attention per query row, a GEMM per output row) the result is the
// same either way with exact BLAS; with inexact BLAS the blocks depend on the shape only.
template <class F>
void for_each_row_block(int64_t batch, int64_t rows, int64_t flops_per_row, int64_t max_rows, bool pooled, F&& f) {
  constexpr int64_t kMinFlopsPerTask = int64_t{1} << 20;  // below this, a task costs more than it saves
  max_rows = std::max<int64_t>(1, std::min(max_rows, rows));
  const int64_t threads = pooled ? block_parallelism() : 1;
  const int64_t total = batch * rows;
  if (threads <= 1 || total * flops_per_row < 2 * kMinFlopsPerTask || total == 0) {
    for (int64_t r = 0; r < rows; r += max_rows) f(int64_t{0}, batch, r, std::min(rows, r + max_rows));
    return;
  }
  // Blocks of rows within one batch entry: enough of them to give every thread work, none
  // smaller than kMinFlopsPerTask (tiny products take other BLAS code paths), none longer
  // than max_rows.
  const int64_t min_block_rows = std::max<int64_t>(1, (kMinFlopsPerTask + flops_per_row - 1) / flops_per_row);
  const int64_t wanted_blocks = std::min((threads + batch - 1) / batch, std::max<int64_t>(1, rows / min_block_rows));
  const int64_t blocks_per_entry = std::max(wanted_blocks, (rows + max_rows - 1) / max_rows);
  const int64_t block_rows = (rows + blocks_per_entry - 1) / blocks_per_entry;
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  // The pool's threads run LibTorch ops through the dispatcher: they take the caller's
  // thread-local state (inference mode, grad mode), as at::launch does.
  runtime::keep_blas_on_one_thread();  // a multi-threaded BLAS inside the pool's threads would fight it
  const at::ThreadLocalState caller_state;
  at::parallel_for(0, batch * blocks, 1, [&](int64_t begin, int64_t end) {
    at::ThreadLocalStateGuard state_guard(caller_state);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / blocks, r0 = (t % blocks) * block_rows;
      f(b, b + 1, r0, std::min(rows, r0 + block_rows));
    }
  });
}

}  // namespace viscpm::kernels::cpu
