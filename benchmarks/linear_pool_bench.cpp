// y = x·Wᵀ (+ b) on the CPU at the shapes of the mid-size UNet and CPM-Bee prefill, at each
// thread count: LibTorch's at::linear (whatever BLAS threads it has) against
// kernels::linear (row blocks over the intra-op pool, BLAS on one thread).
//
//   <build>/benchmarks/linear_pool_bench [--threads 1,2] [--repeats 20]
#include <ATen/ops/linear.h>
#include <ATen/ops/randn.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "bench_common.h"
#include "common/runtime.h"
#include "kernels/ops.h"

int main(int argc, char** argv) {
  std::string threads_list = "1,2";
  int repeats = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--threads") threads_list = value;
    else if (arg == "--repeats") repeats = std::stoi(value);
  }
  c10::InferenceMode inference;
  struct Shape { int64_t m, k, n; bool bias; };
  const Shape shapes[] = {{2048, 64, 64, true},   {2048, 64, 512, true}, {512, 128, 128, true},
                          {128, 256, 2048, true}, {154, 1024, 64, false}, {96, 1024, 3072, false},
                          {2048, 2048, 2048, false}};
  std::stringstream list(threads_list);
  for (std::string item; std::getline(list, item, ',');) {
    const int threads = viscpm::runtime::set_num_threads(std::stoi(item));
    for (const auto& s : shapes) {
      at::Tensor x = at::randn({s.m, s.k}), w = at::randn({s.n, s.k}), b = s.bias ? at::randn({s.n}) : at::Tensor();
      auto lib = bench::time_repeats(repeats, [&] { at::linear(x, w, b); });
      auto ours = bench::time_repeats(repeats, [&] { viscpm::kernels::linear(x, w, b); });
      const double gflop = 2.0 * s.m * s.k * s.n / 1e9;
      std::printf("threads %d  [%5lld x %4lld] x [%4lld]%s  at::linear %8.3f ms (%5.1f GFLOP/s)  kernels::linear %8.3f ms (%5.1f GFLOP/s)\n",
                  threads, (long long)s.m, (long long)s.k, (long long)s.n, s.bias ? "+b" : "  ", 1e3 * lib.median,
                  gflop / lib.median, 1e3 * ours.median, gflop / ours.median);
    }
  }
  return 0;
}
