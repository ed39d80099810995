// Batch-1 and 3-row products of one full-size CPM-Bee FFN matrix pair (w_in fused: 20480 x 4096)
// on the CPU: our int8 streaming kernel, our bf16 streaming kernel and LibTorch's
// _weight_int8pack_mm, each as achieved bytes of weights per second next to the read
// bandwidth measured in the same run (bench::read_bandwidth_gbps). usage: int8_gemv_bench [threads]
#include "bench_common.h"
#include "kernels/ops.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/cpu/small_batch_gemm.h"
#include "common/runtime.h"
#include <ATen/ops/_weight_int8pack_mm.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
using Clock = std::chrono::steady_clock;
int main(int argc, char** argv) {
  viscpm::runtime::set_num_threads(argc > 1 ? atoi(argv[1]) : 2);
  const int64_t N = 10240 * 2, K = 4096;
  at::Tensor w = at::randn({N, K});
  at::Tensor q, s; viscpm::kernels::quantize_int8_rows(w, q, s);
  at::Tensor bf = w.to(at::kBFloat16);
  w = at::Tensor();
  const double bw = bench::read_bandwidth_gbps();
  {  // LibTorch's fp32 sum() over the same 2 GiB, for comparison with the streaming sum
    at::Tensor buffer = at::ones({int64_t{1} << 29});
    double best = 0;
    for (int i = 0; i < 5; ++i) {
      auto t = Clock::now();
      const double x = buffer.sum().item<double>();
      const double sec = std::chrono::duration<double>(Clock::now() - t).count();
      if (x > 0) best = std::max(best, buffer.nbytes() / sec / 1e9);
    }
    std::printf("read bandwidth over 2 GiB: streaming sum %.1f GB/s, at::sum %.1f GB/s\n", bw, best);
  }
  // The matrices below (84 MB int8, 168 MB bf16) fit this machine's L3 on some CPUs (480 MiB on
  // the Xeon VM of results/int8_cpu.txt): repeated calls then read the cache, not the DRAM.
  for (int rows : {1, 3}) {
    at::Tensor x = at::randn({rows, K});
    auto bench = [&](const char* name, auto f, double bytes) {
      f(); double best = 1e9;
      for (int i = 0; i < 10; ++i) { auto t = Clock::now(); f(); best = std::min(best, std::chrono::duration<double>(Clock::now() - t).count()); }
      std::printf("%s rows %d: %.2f ms, %.1f GB/s (read bandwidth %.1f)\n", name, rows, best * 1e3, bytes / best / 1e9, bw);
    };
    bench("int8 stream", [&] { viscpm::kernels::linear_int8(x, q, s); }, double(q.nbytes()));
    viscpm::kernels::cpu::set_int8_avx512_enabled(false);
    bench("int8 stream, AVX2 form", [&] { viscpm::kernels::linear_int8(x, q, s); }, double(q.nbytes()));
    viscpm::kernels::cpu::set_int8_avx512_enabled(true);
    at::Tensor xb = x.to(at::kBFloat16);
    bench("bf16 stream", [&] { viscpm::kernels::linear(xb, bf); }, double(bf.nbytes()));
    viscpm::kernels::cpu::set_small_batch_avx512_enabled(false);
    bench("bf16 stream, AVX2 form", [&] { viscpm::kernels::linear(xb, bf); }, double(bf.nbytes()));
    viscpm::kernels::cpu::set_small_batch_avx512_enabled(true);
    at::Tensor sb = s.to(at::kBFloat16);
    bench("_weight_int8pack_mm bf16", [&] { at::_weight_int8pack_mm(xb, q, sb); }, double(q.nbytes()));
    bench("_weight_int8pack_mm f32", [&] { at::_weight_int8pack_mm(x, q, s); }, double(q.nbytes()));
  }
}
