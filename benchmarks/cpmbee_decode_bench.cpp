// Decode-step latency of the CPM-Bee incremental pass on the CPU: the optimised path
// (CpmBee::prefill/decode_step, preallocated cache, fused GEMMs, prompt bias reused,
// tail-only reorder) against the plain reference formulation (cpmbee/reference.h: the
// same cached algorithm written as the Python reference does it: torch.cat-grown
// buffers, full mask/bias rebuilt per call, separate q/k/v GEMMs, full reorders).
//
// Scenario (the chat flow): a batch-1 prompt of --prompt tokens in 9 segments prefilled
// for --beams rows, then --steps one-token steps in the answer segment, each followed by
// a beam reorder. Reports ms per step (all beams) after --warmup steps.
//
// usage: cpmbee_decode_bench [--fixtures DIR] [--steps N] [--warmup N] [--prompt N]
//                            [--beams N] [--threads N] [--only tiny|mid] [--dtype fp32|bf16|fp16]
#include "common/runtime.h"
#include "cpmbee/model.h"
#include "testkit/reference/cpmbee_reference.h"
#include "kernels/cpu/small_batch_gemm.h"
#include "io/tensor_source.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/div.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

using namespace viscpm::cpmbee;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string fixtures = "../shared/fixtures";
  int steps = 32, warmup = 4, prompt = 96, beams = 3, threads = 0;
  std::string only;
  at::ScalarType dtype = at::kFloat;  // of the mid-size model
};

// The chat relation table of input-format.md §4 (9 segments).
const int64_t kChatRel[81] = {0,  2,  3,  2,  3,  2,  3,  2,  3,  9,  0,  2,  10, 11, 10, 11, 10, 11, 17, 9,  0,
                              18, 19, 18, 19, 18, 19, 9,  10, 11, 0,  2,  10, 11, 10, 11, 17, 18, 19, 9,  0,  18,
                              19, 18, 19, 9,  10, 11, 10, 11, 0,  2,  10, 11, 17, 18, 19, 18, 19, 9,  0,  18, 19,
                              9,  10, 11, 10, 11, 10, 11, 0,  2,  17, 18, 19, 18, 19, 18, 19, 9,  0};

CpmBeeInputs chat_prompt(int64_t vocab, int64_t len) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  const auto longs = at::TensorOptions().dtype(at::kLong);
  CpmBeeInputs p;
  p.input_ids = at::randint(10, vocab, {1, len}, gen, longs);
  p.input_id_subs = at::zeros({1, len}, longs);
  p.positions = at::arange(len, longs).unsqueeze(0);
  p.context = at::ones({1, len}, longs);
  p.sample_ids = at::zeros({1, len}, longs);
  p.num_segments = at::full({1, len}, 9, longs);
  p.segment_ids = at::div(at::arange(len, longs) * 8, len, "floor").unsqueeze(0);  // segments 0..7
  p.segment_rel_offset = at::zeros({1, len}, longs);
  p.segment_rel = at::from_blob(const_cast<int64_t*>(kChatRel), {1, 81}, longs).clone();
  p.ext_table_ids = at::tensor({1, 1}, longs);
  p.ext_table_sub = at::tensor({1, 2}, longs);
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::vector<int64_t> reorder_pattern(int step, int beams) {
  std::vector<int64_t> idx(beams);
  for (int b = 0; b < beams; ++b) idx[b] = (b + step) % beams;  // a rotation, plus a duplicate below
  if (beams > 1 && step % 2) idx[beams - 1] = idx[0];
  return idx;
}

struct Timing {
  double prefill_ms = 0;
  std::vector<double> step_ms;
  at::Tensor last_logits;
};

Timing run_optimised(const CpmBee& model, const CpmBeeInputs& prompt, const Options& o) {
  Timing t;
  auto start = Clock::now();
  KvCache cache = model->new_cache(o.beams, o.prompt + o.warmup + o.steps);
  model->prefill(prompt, cache, {}, LogitsMode::kNone);
  t.prefill_ms = ms_since(start);
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    StepInputs s;
    s.token_ids = at::full({o.beams}, 100 + i, at::kLong);
    s.token_subs = at::zeros({o.beams}, at::kLong);
    s.positions = at::full({o.beams}, i, at::kLong);
    s.segment_ids = at::full({o.beams}, 8, at::kLong);
    start = Clock::now();
    auto out = model->decode_step(s, cache);
    cache.reorder(at::tensor(reorder_pattern(i, o.beams), at::kLong));
    const double ms = ms_since(start);
    if (i >= o.warmup) t.step_ms.push_back(ms);
    t.last_logits = out.logits;
  }
  return t;
}

Timing run_reference(const CpmBee& model, const CpmBeeInputs& prompt1, const Options& o) {
  Timing t;
  CpmBeeInputs prompt = prompt1;  // the reference replicates the prompt per beam
  for (auto* f : {&prompt.input_ids, &prompt.input_id_subs, &prompt.positions, &prompt.context, &prompt.sample_ids,
                  &prompt.num_segments, &prompt.segment_ids, &prompt.segment_rel_offset, &prompt.segment_rel})
    *f = f->expand({o.beams, f->size(1)}).contiguous();
  auto start = Clock::now();
  reference::Buffers buffers;
  reference::inference(*model, prompt, buffers);
  t.prefill_ms = ms_since(start);
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    CpmBeeInputs s;
    s.input_ids = at::full({o.beams, 1}, 100 + i, at::kLong);
    s.input_id_subs = at::zeros({o.beams, 1}, at::kLong);
    s.positions = at::full({o.beams, 1}, i, at::kLong);
    s.context = at::ones({o.beams, 1}, at::kBool);
    s.sample_ids = at::zeros({o.beams, 1}, at::kLong);
    s.num_segments = prompt.num_segments.narrow(1, o.prompt - 1, 1);
    s.segment_ids = at::full({o.beams, 1}, 8, at::kLong);
    s.segment_rel_offset = prompt.segment_rel_offset.narrow(1, o.prompt - 1, 1);
    s.segment_rel = prompt.segment_rel;
    s.ext_table_ids = prompt.ext_table_ids;
    s.ext_table_sub = prompt.ext_table_sub;
    start = Clock::now();
    auto out = reference::inference(*model, s, buffers);
    reference::reorder(buffers, at::tensor(reorder_pattern(i, o.beams), at::kLong));
    const double ms = ms_since(start);
    if (i >= o.warmup) t.step_ms.push_back(ms);
    t.last_logits = out.logits.select(1, 0);
  }
  return t;
}

void bench(const std::string& name, const CpmBee& model, const Options& o) {
  c10::InferenceMode guard;
  const auto& c = model->config();
  CpmBeeInputs prompt = chat_prompt(c.vocab_size, o.prompt);
  // Three variants, interleaved twice so drifting machine load hits all of them:
  // optimised (small-batch GEMM kernel), optimised with at::linear GEMMs, reference.
  std::vector<Timing> opt, plain, ref;
  for (int round = 0; round < 2; ++round) {
    viscpm::kernels::cpu::set_small_batch_kernel_enabled(true);
    opt.push_back(run_optimised(model, prompt, o));
    viscpm::kernels::cpu::set_small_batch_kernel_enabled(false);
    plain.push_back(run_optimised(model, prompt, o));
    viscpm::kernels::cpu::set_small_batch_kernel_enabled(true);
    ref.push_back(run_reference(model, prompt, o));
  }
  std::printf("%-5s L=%lld D=%lld H=%lldx%lld F=%lld V=%lld %s | prompt %d, beams %d, %d steps x2 (+%d warm-up)\n",
              name.c_str(), (long long)c.num_layers, (long long)c.dim_model, (long long)c.num_heads,
              (long long)c.dim_head, (long long)c.dim_ff, (long long)c.vocab_size, c10::toString(model->dtype()),
              o.prompt, o.beams, o.steps, o.warmup);
  auto report = [&](const char* label, const std::vector<Timing>& runs) {
    std::vector<double> steps;
    double prefill = 1e30;
    for (const auto& t : runs) {
      steps.insert(steps.end(), t.step_ms.begin(), t.step_ms.end());
      prefill = std::min(prefill, t.prefill_ms);
    }
    std::printf("  %-22s prefill %9.2f ms | step median %9.3f ms  mean %9.3f ms\n", label, prefill, median(steps),
                mean(steps));
    return median(steps);
  };
  const double a = report(viscpm::kernels::cpu::small_batch_kernel_active() ? "optimised" : "optimised (no kernel)", opt);
  const double b = report("optimised, at::linear", plain);
  const double r = report("reference formulation", ref);
  const double diff = (opt.back().last_logits - ref.back().last_logits).abs().max().item<double>();
  std::printf("  speed-up vs reference (median step): optimised %.2fx, optimised with at::linear %.2fx;\n"
              "  last-step logits max |optimised - reference| = %.3g\n", r / a, r / b, diff);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--fixtures") o.fixtures = v;
    else if (k == "--steps") o.steps = std::stoi(v);
    else if (k == "--warmup") o.warmup = std::stoi(v);
    else if (k == "--prompt") o.prompt = std::stoi(v);
    else if (k == "--beams") o.beams = std::stoi(v);
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--only") o.only = v;
    else if (k == "--dtype") o.dtype = v == "bf16" ? at::kBFloat16 : (v == "fp16" ? at::kHalf : at::kFloat);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  if (o.threads > 0) viscpm::runtime::set_num_threads(o.threads);  // every pool, as the library sets them
  std::printf("torch threads: %d\n", at::get_num_threads());
  if (o.only.empty() || o.only == "tiny") {
    const auto dir = std::filesystem::path(o.fixtures) / "models/chat";
    CpmBee tiny(CpmBeeConfig::load(dir / "cpm-bee.json"));
    tiny->load_weights(*viscpm::io::TensorSource::open(dir / "viscpm_chat.pt"));
    bench("tiny", tiny, o);
  }
  if (o.only.empty() || o.only == "mid") {
    CpmBeeConfig mid;
    mid.num_layers = 8;
    mid.dim_model = 1024;
    mid.num_heads = 16;
    mid.dim_head = 64;
    mid.dim_ff = 2560;
    mid.half = false;
    CpmBee model(mid, o.dtype);
    model->init_random_(1, 1.0);
    bench("mid", model, o);
  }
  return 0;
}
