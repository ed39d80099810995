// The GPU benchmark of benchmarks/gpu/run.sh: VisCPM-Chat and VisCPM-Paint at the released
// shapes (CPM-Bee 10B, BEiT-3 large, SD 2.1-base UNet and VAE) with random fp16 weights
// drawn on the device, timed with device synchronisation, each part with the CUDA kernels
// of kernels/cuda on and (where it tells something) off. Prints one line per part and
// writes the JSON summary run.sh prints as a table.
//
// usage: gpu_bench VOCAB_BEE_TXT MODELS_DIR OUT_JSON [--quick]
#include <ATen/Context.h>
#include <ATen/cuda/CUDAGraph.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/div.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/zeros.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/flip.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../bench_common.h"
#include "common/error.h"
#include "cpmbee/model.h"
#include "diffusion/scheduler.h"
#include "diffusion/trans_block.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "kernels/ops.h"
#include "pipelines/chat/chat_model.h"
#include "pipelines/paint/paint_model.h"
#include "testkit/demo/demo_chat.h"
#include "text/tokenizer.h"
#include "vision/vision_encoder.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace viscpm;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
void sync() { c10::cuda::device_synchronize(); }

struct Stats {
  double median = 0, min = 0;
};
Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front()};
}
// f timed `reps` times after `warmup` runs, synchronised around each run.
Stats time_ms(int warmup, int reps, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  sync();
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) {
    auto t = Clock::now();
    f();
    sync();
    v.push_back(ms_since(t));
  }
  return stats_of(v);
}

double gib(double bytes) { return bytes / double(int64_t{1} << 30); }
int64_t peak_allocated() {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
  return stats.allocated_bytes[0].peak;  // index 0: the aggregate over pool types
}
void reset_peak() {
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
}

struct Report {
  std::map<std::string, std::string> json;  // key -> JSON value
  std::vector<std::string> rows;            // table rows: part | median | min | peak | floor ratio
  void number(const std::string& key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    json[key] = buf;
  }
  void text(const std::string& key, const std::string& v) { json[key] = "\"" + v + "\""; }
  void row(const std::string& part, Stats s, const std::string& unit, double peak_gib, const std::string& floor) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-44s %10.3f %10.3f %-3s %8.2f   %s", part.c_str(), s.median, s.min, unit.c_str(),
                  peak_gib, floor.c_str());
    rows.push_back(buf);
    std::printf("%s\n", buf);
    std::fflush(stdout);
  }
  void write(const std::string& path) const {
    std::ofstream out(path);
    out << "{\n";
    size_t i = 0;
    for (const auto& [k, v] : json) out << "  \"" << k << "\": " << v << (++i < json.size() ? ",\n" : "\n");
    out << "}\n";
  }
};

std::string ratio_text(double measured, double floor, const char* what) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.2fx the %s floor (%.3f)", measured / floor, what, floor);
  return buf;
}

// Batch-1 (or beams-row) decode steps on the raw model: prefill `prompt` tokens, then
// `steps` single-token steps; returns the per-step times.
Stats decode_steps(const cpmbee::CpmBeeImpl& model, int64_t rows, int64_t prompt, int steps) {
  const auto longs = at::TensorOptions().dtype(at::kLong).device(model.device());
  cpmbee::KvCache cache = model.new_cache(rows, prompt + steps + 8);
  model.prefill(bench::random_prompt(prompt, model.config().vocab_size), cache, {}, cpmbee::LogitsMode::kLast);
  at::Tensor parents = at::arange(rows, longs).flip(0);  // a reorder every step, as beam search does
  std::vector<double> v;
  for (int i = 0; i < steps; ++i) {
    cpmbee::StepInputs s;
    s.token_ids = at::randint(10, model.config().vocab_size, {rows}, longs);
    s.token_subs = at::zeros({rows}, longs);
    s.positions = at::full({rows}, prompt + i, longs);
    s.segment_ids = at::full({rows}, 8, longs);
    sync();
    auto t = Clock::now();
    auto out = model.decode_step(s, cache);
    if (rows > 1) cache.reorder(parents, /*trusted=*/true);
    sync();
    if (i >= 3) v.push_back(ms_since(t));  // the first steps warm the allocator and cuBLAS
  }
  return stats_of(v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s VOCAB_BEE_TXT MODELS_DIR OUT_JSON [--quick]\n", argv[0]);
    return 2;
  }
  const std::string vocab = argv[1], models = argv[2], out_json = argv[3];
  const bool quick = argc > 4 && std::string(argv[4]) == "--quick";
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "gpu_bench: no CUDA device\n");
    return 2;
  }
  c10::InferenceMode inference;
  const at::Device cuda(at::kCUDA, 0);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  Report report;
  report.text("gpu", prop.name);
  report.number("cuda_kernels_built", viscpm::kernels::cuda_kernels_built() ? 1 : 0);
  std::printf("gpu: %s, %d SMs, %.1f GiB\n", prop.name, prop.multiProcessorCount, gib(prop.totalGlobalMem));
  std::printf("%-44s %10s %10s %-3s %8s   %s\n", "part", "median", "min", "", "peak GiB", "against the floor");

  // Read bandwidth: a sum over 4 GiB of fp16 (read once, nothing written).
  double read_tb_s = 0;
  {
    at::Tensor buffer = at::ones({int64_t{1} << 31}, at::TensorOptions().dtype(at::kHalf).device(cuda));
    Stats s = time_ms(2, 10, [&] { (void)buffer.sum(); });
    read_tb_s = buffer.nbytes() / (s.min * 1e-3) / 1e12;
    report.row("read bandwidth (sum over 4 GiB fp16)", s, "ms", gib(buffer.nbytes()), "");
  }
  report.number("read_bandwidth_tb_s", read_tb_s);
  std::printf("read bandwidth: %.2f TB/s\n", read_tb_s);

  auto tokenizer = std::make_shared<const text::Tokenizer>(text::Tokenizer::from_file(vocab));

  // ---- chat ---------------------------------------------------------------------------
  {
    reset_peak();
    const auto llm_config = cpmbee::CpmBeeConfig::cpm_bee_10b();
    auto t = Clock::now();
    cpmbee::CpmBee llm(llm_config, at::kHalf, cuda);
    llm->init_random_(1234, 1.0);
    vision::VisionEncoder vision(vision::Beit3Config::large(), llm_config.dim_model,
                                 at::TensorOptions().dtype(at::kHalf).device(cuda));
    bench::randomize(*vision, 1);
    sync();
    double weight_bytes = 0;
    for (const auto& p : llm->parameters()) weight_bytes += p.nbytes();
    std::printf("random fp16 CPM-Bee 10B (%.2f GB) + BEiT-3 large on the GPU: %.1f s\n", weight_bytes / 1e9,
                ms_since(t) / 1e3);
    const double floor_ms = weight_bytes / (read_tb_s * 1e12) * 1e3;
    report.number("chat_decode_floor_ms", floor_ms);

    for (bool kernels_on : {false, true}) {
      viscpm::kernels::set_cuda_kernels_enabled(kernels_on);
      const std::string tag = kernels_on ? "" : " [LibTorch ops]";
      Stats b1 = decode_steps(*llm, 1, 64, quick ? 12 : 40);
      report.row("chat decode step, batch 1" + tag, b1, "ms", gib(peak_allocated()), ratio_text(b1.median, floor_ms, "bandwidth"));
      Stats b3 = decode_steps(*llm, 3, 128, quick ? 12 : 40);
      report.row("chat decode step, 3 rows + reorder" + tag, b3, "ms", gib(peak_allocated()),
                 ratio_text(b3.median, floor_ms, "bandwidth"));
      if (kernels_on) {
        report.number("chat_decode_ms_b1", b1.median);
        report.number("chat_decode_ms_rows3", b3.median);
      } else {
        report.number("chat_decode_ms_b1_libtorch_ops", b1.median);
      }
    }
    viscpm::kernels::set_cuda_kernels_enabled(true);

    // The chat pipeline: one image, a question of ~60 tokens, beam search with 3 beams.
    auto model = chat::ChatModel::assemble(tokenizer, vision, llm);
    auto rgb = testkit::demo_image_rgb(640, 480);
    auto image = vision::Image::wrap_packed(rgb.data(), rgb.size(), 640, 480, vision::PixelFormat::kRGB);
    const std::string question =
        "Please describe this picture in detail: what objects are in it, what colours do they have, where are "
        "they placed relative to each other, and what might have happened just before it was taken?";
    decoding::GenerationConfig config;  // beam search, 3 beams, the released settings
    config.max_length = quick ? 8 : 32;
    size_t prompt_tokens = 0;
    std::vector<double> ttft, beam_step;
    for (int run = 0; run < (quick ? 2 : 4); ++run) {
      sync();
      auto t0 = Clock::now();
      double first = -1;
      int polls = 0;
      decoding::GenerationCallbacks callbacks;
      callbacks.should_continue = [&] {
        if (++polls == 2) first = ms_since(t0);  // before the 2nd model call: the 1st token is chosen
        return true;
      };
      auto session = model->start_session(image.view());
      auto turn = session.ask(question, config, callbacks);
      sync();
      const double total = ms_since(t0);
      prompt_tokens = turn.prompt_input_ids.size();
      if (run > 0) {  // run 0 warms up
        ttft.push_back(first);
        if (turn.model_steps > 1) beam_step.push_back((total - first) / double(turn.model_steps - 1));
      }
      std::printf("chat turn %d: prompt %zu tokens (64 image positions included), %zu answer tokens, %lld model "
                  "steps, first token %.1f ms, total %.1f ms\n",
                  run, prompt_tokens, turn.token_ids.size(), (long long)turn.model_steps, first, total);
    }
    const Stats ttft_s = stats_of(ttft), beam_s = stats_of(beam_step);
    report.row("chat time to first token (image + question)", ttft_s, "ms", gib(peak_allocated()), "");
    report.row("chat beam search step, 3 beams", beam_s, "ms", gib(peak_allocated()),
               ratio_text(beam_s.median, floor_ms, "bandwidth"));
    report.number("chat_ttft_ms", ttft_s.median);
    report.number("chat_prompt_tokens", double(prompt_tokens));
    report.number("chat_decode_ms_beam3", beam_s.median);
    report.number("chat_peak_gib", gib(peak_allocated()));
  }

  // ---- paint --------------------------------------------------------------------------
  {
    reset_peak();
    const auto half = at::TensorOptions().dtype(at::kHalf).device(cuda);
    diffusion::UnetOptions unet_options;
    unet_options.dtype = at::kHalf;
    unet_options.device = cuda;
    diffusion::UnetModel unet(diffusion::UnetConfig::from_file(models + "/sd21-base/unet/config.json"), unet_options);
    bench::randomize(*unet, 2);
    diffusion::VaeOptions vae_options;
    vae_options.dtype = at::kHalf;
    vae_options.device = cuda;
    diffusion::VaeDecoder vae(diffusion::VaeConfig::from_file(models + "/sd21-base/vae/config.json"), vae_options);
    bench::randomize(*vae, 3);
    sync();

    at::Tensor sample = at::randn({2, 4, 64, 64}, half), context = at::randn({2, 77, 1024}, half);
    at::Tensor timestep = at::scalar_tensor(981, at::TensorOptions().dtype(at::kLong).device(cuda));
    double eager_ms = 0;
    for (bool kernels_on : {false, true}) {
      viscpm::kernels::set_cuda_kernels_enabled(kernels_on);
      Stats s = time_ms(3, quick ? 5 : 20, [&] { (void)unet->forward(sample, timestep, context); });
      if (kernels_on) eager_ms = s.median;
      report.row(std::string("unet step with guidance (batch 2, 64x64)") + (kernels_on ? "" : " [LibTorch ops]"), s,
                 "ms", gib(peak_allocated()), "");
      report.number(kernels_on ? "unet_step_ms_cfg_eager" : "unet_step_ms_cfg_libtorch_ops", s.median);
    }
    viscpm::kernels::set_cuda_kernels_enabled(true);

    // The same step replayed from a CUDA graph (static input and output buffers).
    double graph_ms = -1;
    try {
      at::cuda::CUDAGraph graph;
      at::Tensor graph_out;
      {
        auto stream = c10::cuda::getStreamFromPool();
        c10::cuda::CUDAStreamGuard guard(stream);
        (void)unet->forward(sample, timestep, context);  // warm-up on the capture stream
        stream.synchronize();
        graph.capture_begin();
        graph_out = unet->forward(sample, timestep, context);
        graph.capture_end();
      }
      Stats s = time_ms(3, quick ? 5 : 20, [&] { graph.replay(); });
      graph_ms = s.median;
      report.row("unet step with guidance, CUDA graph", s, "ms", gib(peak_allocated()), "");
    } catch (const std::exception& e) {
      std::printf("unet CUDA graph capture failed: %s\n", e.what());
    }
    report.number("unet_step_ms_cfg_graph", graph_ms);
    report.number("unet_step_ms_cfg", graph_ms > 0 ? graph_ms : eager_ms);
    {
      at::Tensor latents = at::randn({1, 4, 64, 64}, half);
      Stats s = time_ms(1, quick ? 3 : 10, [&] { (void)vae->decode_latents(latents); });
      report.row("vae decode 64x64 -> 512x512", s, "ms", gib(peak_allocated()), "");
      report.number("vae_decode_ms", s.median);
    }

    // The whole job: CPM-Bee 10B text encoding, trans block, 50 DDPM steps, VAE decode.
    const auto llm_config = cpmbee::CpmBeeConfig::cpm_bee_10b();
    cpmbee::CpmBee llm(llm_config, at::kHalf, cuda);
    llm->init_random_(99, 1.0);
    diffusion::TransBlock trans(llm_config.dim_model, 1024, half);
    bench::randomize(*trans, 4);
    auto model = paint::PaintModel::assemble(
        tokenizer, llm, trans, unet, vae,
        diffusion::SchedulerConfig::from_file(models + "/sd21-base/scheduler/scheduler_config.json"));
    paint::PaintRequest request;
    request.prompt = "a watercolor painting of a lighthouse on a cliff at sunset, seagulls over the waves";
    request.num_inference_steps = 50;
    request.seed = 7;
    std::vector<double> jobs;
    for (int run = 0; run < (quick ? 2 : 4); ++run) {
      sync();
      auto t = Clock::now();
      auto result = model->generate(request);
      sync();
      if (run > 0) jobs.push_back(ms_since(t) / 1e3);
      std::printf("paint run %d: %lldx%lld, %lld steps, %.3f s\n", run, (long long)result.width,
                  (long long)result.height, (long long)result.steps, ms_since(t) / 1e3);
    }
    const Stats job = stats_of(jobs);
    report.row("paint 512x512, 50 steps, encode + VAE", job, "s", gib(peak_allocated()), "");
    report.number("paint_512_50_s", job.median);
    report.number("paint_peak_gib", gib(peak_allocated()));
  }

  report.write(out_json);
  // The table, also beside the JSON (run.sh prints it last).
  std::string table_path = out_json.substr(0, out_json.rfind('.')) + "_table.txt";
  std::ofstream table(table_path);
  char header[160];
  std::snprintf(header, sizeof header, "%-44s %10s %10s %-3s %8s   %s", "part", "median", "min", "", "peak GiB",
                "against the floor");
  table << "gpu: " << prop.name << "\n" << header << "\n";
  for (const auto& r : report.rows) table << r << "\n";
  return 0;
}
