// Small helpers the benchmark programs share: random weights with a sane scale, a random
// chat-like CPM-Bee prompt, wall-clock timing, the peak resident set size, and min/median
// over repeats.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/div.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>
#include <ATen/record_function.h>
#include <sys/resource.h>

#include <ATen/Parallel.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "common/module.h"
#include "cpmbee/inputs.h"

namespace bench {

// Read bandwidth of this machine, GB/s: the best of `passes` passes of a hand-written
// streaming sum (4 independent 256-bit accumulators per thread, LibTorch's intra-op threads)
// over a buffer far above the caches (2 GiB; some CPUs have 480 MiB of L3). On the 2-vCPU
// Xeon it reads what LibTorch's fp32 sum() reads (22 GB/s each, int8_gemv_bench prints both);
// it is kept so that the floor does not depend on how a LibTorch build vectorises sum().
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) inline uint64_t stream_sum(const uint64_t* p, int64_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) sum += p[i];
  return sum;
}
#endif

inline double read_bandwidth_gbps(int64_t bytes = int64_t{2} << 30, int passes = 5) {
  at::Tensor buffer = at::ones({bytes / 8}, at::TensorOptions().dtype(at::kLong));  // 64-byte aligned by the allocator
  const uint64_t* data = reinterpret_cast<const uint64_t*>(buffer.const_data_ptr<int64_t>());
  const int64_t n = buffer.numel();
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    std::atomic<uint64_t> total{0};
    const auto start = std::chrono::steady_clock::now();
    at::parallel_for(0, n / 16, 1 << 14, [&](int64_t b, int64_t e) {
#if defined(__x86_64__) && defined(__GNUC__)
      total += stream_sum(data + b * 16, (e - b) * 16);
#else
      uint64_t s = 0;
      for (int64_t i = b * 16; i < e * 16; ++i) s += data[i];
      total += s;
#endif
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (total.load() == uint64_t(n / 16 * 16)) best = std::max(best, double(bytes) / seconds / 1e9);
  }
  return best;
}

inline double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

// Norms at identity, everything else N(0, 0.02^2): on the CPU drawn in fp32 from a generator
// seeded with `seed` and cast to the parameter; on a GPU drawn in place by the device's own
// generator (seeded once with `seed`), since a billion draws through the CPU take minutes.
inline void randomize(viscpm::nn::Module& module, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  bool device_seeded = false;
  for (auto& item : module.named_parameters()) {
    at::Tensor p = item.value();
    const std::string& name = item.key();
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_norm && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      p.fill_(1.0);
    } else if (is_norm) {
      p.zero_();
    } else if (!p.device().is_cpu()) {
      if (!device_seeded) at::manual_seed(seed);
      device_seeded = true;
      p.normal_(0.0, 0.02);
    } else {
      p.copy_(at::randn(p.sizes(), gen, at::kFloat) * 0.02);
    }
  }
}

// A chat-like CPM-Bee prompt of `len` random tokens (CPU tensors): one context, 9 segments
// over the positions, a random segment relation table with a zero diagonal.
inline viscpm::cpmbee::CpmBeeInputs random_prompt(int64_t len, int64_t vocab_size) {
  const auto longs = at::TensorOptions().dtype(at::kLong);
  viscpm::cpmbee::CpmBeeInputs p;
  p.input_ids = at::randint(10, vocab_size, {1, len}, longs);
  p.input_id_subs = at::zeros({1, len}, longs);
  p.positions = at::arange(len, longs).unsqueeze(0);
  p.context = at::ones({1, len}, longs);
  p.sample_ids = at::zeros({1, len}, longs);
  p.num_segments = at::full({1, len}, 9, longs);
  p.segment_ids = at::div(at::arange(len, longs) * 8, len, "floor").unsqueeze(0);
  p.segment_rel_offset = at::zeros({1, len}, longs);
  p.segment_rel = at::randint(2, 20, {1, 81}, longs);
  for (int64_t s = 0; s < 9; ++s) p.segment_rel[0][s * 9 + s] = 0;
  return p;
}

template <class F>
double seconds(F&& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Timing {
  double min = 0, median = 0;
};

// Runs f once to warm up, then `repeats` times.
template <class F>
Timing time_repeats(int repeats, F&& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(seconds(f));
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

// Wall time per outermost LibTorch op on the calling thread (ops called inside other ops are
// part of their caller's time), while the object lives; print() lists the largest first.
class OpProfile {
 public:
  OpProfile() {
    table() = {};
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(
            [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
              auto ctx = std::make_unique<Context>();
              ctx->outermost = depth()++ == 0;
              ctx->start = std::chrono::steady_clock::now();
              return ctx;
            },
            [](const at::RecordFunction& fn, at::ObserverContext* c) {
              auto* ctx = static_cast<Context*>(c);
              --depth();
              if (!ctx->outermost) return;
              auto& entry = table()[fn.name()];
              entry.first += std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx->start).count();
              entry.second += 1;
            })
            .scopes({at::RecordScope::FUNCTION}));
  }
  ~OpProfile() { at::removeCallback(handle_); }
  void print(double total_seconds, int rows = 12) const {
    std::vector<std::pair<std::string, std::pair<double, long>>> sorted(table().begin(), table().end());
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
    for (int i = 0; i < rows && i < static_cast<int>(sorted.size()); ++i)
      std::printf("    %-36s %8.1f ms %5.1f %% %6ld calls\n", sorted[i].first.c_str(), 1e3 * sorted[i].second.first,
                  100.0 * sorted[i].second.first / total_seconds, sorted[i].second.second);
  }

 private:
  struct Context : at::ObserverContext {
    bool outermost = false;
    std::chrono::steady_clock::time_point start;
  };
  static int& depth() {
    static thread_local int d = 0;
    return d;
  }
  static std::map<std::string, std::pair<double, long>>& table() {
    static std::map<std::string, std::pair<double, long>> t;
    return t;
  }
  at::CallbackHandle handle_;
};

}  // namespace bench
