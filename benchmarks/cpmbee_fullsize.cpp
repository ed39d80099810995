// Full-size check of CPM-Bee 10B on the CPU: the released configuration
// (models/cpm-bee-10b.json) with random bf16 weights allocated directly in bf16 and
// initialised in place (no checkpoint, no fp32 copy), a 128-token chat-like prompt
// prefilled for 3 beams, then 4 decode steps with beam reorders. Prints the timings and
// the peak resident set size (getrusage).
//
// --weights int8: the matrices as int8 rows with fp32 scales (WeightFormat::kInt8), the
// rest and the activations in fp32, as `--dtype int8` loads a model on the CPU.
//
// usage: cpmbee_fullsize [config.json] [--prompt N] [--steps N] [--beams N] [--threads N] [--weights bf16|int8]
#include "bench_common.h"
#include "common/runtime.h"
#include "cpmbee/model.h"
#include "kernels/cpu/small_batch_gemm.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/div.h>
#include <ATen/ops/full.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

using namespace viscpm::cpmbee;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}
}  // namespace

int main(int argc, char** argv) {
  // This run takes most of the machine's memory: if the kernel must kill something, let it
  // be this benchmark rather than a neighbour's process (best effort).
  std::ofstream("/proc/self/oom_score_adj") << 1000;
  std::string config_path;
  int prompt_len = 128, steps = 4, beams = 3, threads = 0;
  std::string weights = "bf16";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--prompt" && i + 1 < argc) prompt_len = std::stoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) steps = std::stoi(argv[++i]);
    else if (a == "--beams" && i + 1 < argc) beams = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--weights" && i + 1 < argc) weights = argv[++i];
    else config_path = a;
  }
  if (threads > 0) viscpm::runtime::set_num_threads(threads);  // every pool, as the library sets them
  const CpmBeeConfig config = config_path.empty() ? CpmBeeConfig::cpm_bee_10b() : CpmBeeConfig::load(config_path);
  if (weights != "bf16" && weights != "int8") {
    std::fprintf(stderr, "--weights must be bf16 or int8\n");
    return 2;
  }
  const bool int8 = weights == "int8";
  std::printf("config: L=%lld D=%lld H=%lldx%lld F=%lld V=%lld, %.3f B parameters, weights %s\n",
              (long long)config.num_layers, (long long)config.dim_model, (long long)config.num_heads,
              (long long)config.dim_head, (long long)config.dim_ff, (long long)config.vocab_size,
              config.parameter_count() / 1e9,
              int8 ? "int8 rows + fp32 scales, fp32 activations" : "bf16, bf16 activations");
  std::printf("torch threads %d; small-batch GEMM kernel %s (fp32/fp16/bf16 weights, <= 8 rows)\n",
              at::get_num_threads(), viscpm::kernels::cpu::small_batch_kernel_active() ? "available" : "unavailable");
  // The floor: a decode step reads every weight once, so it cannot beat (weight bytes) /
  // (read bandwidth). The bandwidth is measured here, in this run, before the model exists
  // (bench::read_bandwidth_gbps: a streaming sum over 2 GiB, best of 5).
  const double read_gb_per_s = bench::read_bandwidth_gbps();
  auto t = Clock::now();
  // Parameters allocated in their final dtype, untouched.
  CpmBee model = int8 ? CpmBee(config, at::kFloat, at::kCPU, WeightFormat::kInt8) : CpmBee(config, at::kBFloat16);
  std::printf("construct: %.1f s, peak RSS %.2f GiB\n", seconds_since(t), peak_rss_gib());
  double weight_bytes = 0;  // every parameter is read once per step
  for (const auto& p : model->parameters()) weight_bytes += double(p.nbytes());
  const double floor_ms = weight_bytes / (read_gb_per_s * 1e9) * 1e3;
  std::printf("read bandwidth (streaming sum, 2 GiB, best of 5): %.1f GB/s -> decode floor %.0f ms per step (%.2f GB of weights)\n",
              read_gb_per_s, floor_ms, weight_bytes / 1e9);
  std::fflush(stdout);
  t = Clock::now();
  model->init_random_(1234, 1.0);  // in place, per parameter
  std::printf("random init: %.1f s, peak RSS %.2f GiB\n", seconds_since(t), peak_rss_gib());
  std::fflush(stdout);

  c10::InferenceMode guard;
  const auto longs = at::TensorOptions().dtype(at::kLong);
  const CpmBeeInputs p = bench::random_prompt(prompt_len, config.vocab_size);

  KvCache cache = model->new_cache(beams, prompt_len + steps);
  t = Clock::now();
  auto pre = model->prefill(p, cache, {}, LogitsMode::kLast);
  std::printf("prefill %d tokens: %.2f s (%.1f ms/token), peak RSS %.2f GiB, logits finite: %s\n", prompt_len,
              seconds_since(t), seconds_since(t) * 1000 / prompt_len, peak_rss_gib(),
              at::isfinite(pre.logits).all().item<bool>() ? "yes" : "NO");
  std::fflush(stdout);
  double total = 0;
  for (int i = 0; i < steps; ++i) {
    StepInputs s;
    s.token_ids = at::randint(10, config.vocab_size, {beams}, longs);
    s.token_subs = at::zeros({beams}, longs);
    s.positions = at::full({beams}, i, longs);
    s.segment_ids = at::full({beams}, 8, longs);
    t = Clock::now();
    auto out = model->decode_step(s, cache);
    cache.reorder(at::tensor({0, 0, 1}, longs).narrow(0, 0, beams).clamp_max(beams - 1));
    const double ms = seconds_since(t) * 1000;
    total += ms;
    std::printf("decode step %d (%d beams): %.0f ms, logits %s finite\n", i, beams, ms,
                at::isfinite(out.logits).all().item<bool>() ? "all" : "NOT all");
    std::fflush(stdout);
  }
  std::printf("mean decode step: %.0f ms = %.2fx the floor of %.0f ms; peak RSS %.2f GiB\n", total / steps,
              total / steps / floor_ms, floor_ms, peak_rss_gib());
  return 0;
}
