// Chat decode loop on the CPU, end to end: one VisCPM-Chat turn of beam search (3 beams,
// the released settings) on random weights, timed per decode step, with the host reads of
// the loop counted (LibTorch ops that return a host value: item/equal/is_nonzero/allclose,
// seen by a RecordFunction observer; plus, where the tree has it, read_to_host copies).
//
// The same source builds in the tree before the architecture change (generate/) and after
// it (pipelines/, decoding/), so both binaries run the same scenario side by side.
//
// Scenario: the fixtures' vocabulary (V = 86583) and tiny BEiT-3, a CPM-Bee of --layers
// layers, width --dim (heads of 64), FFN 2.5 x width; the image is encoded once (not
// timed); then --repeat turns of max_length --length. A step is the time between two
// consecutive polls of GenerationCallbacks::should_continue (the decoders poll it before
// every model call), so the prefill is left out; reads per step come from the difference
// of a --short and a --length turn.
//
// usage: chat_decode_bench [--fixtures DIR] [--layers N] [--dim N] [--short N] [--length N] [--repeat N]
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cpmbee/model.h"
#include "vision/vision_encoder.h"
#if __has_include("pipelines/chat/chat_model.h")
#include "common/host_read.h"
#include "pipelines/chat/chat_model.h"
#include "testkit/demo/demo_chat.h"
namespace chatns = viscpm::chat;
namespace decodens = viscpm::decoding;
namespace demons = viscpm::testkit;
#define VISCPM_TREE "after (decoding/, pipelines/)"
#define VISCPM_HAS_READ_TO_HOST 1
#else
#include "generate/chat_model.h"
#include "generate/demo_chat.h"
namespace chatns = viscpm::generate;
namespace decodens = viscpm::generate;
namespace demons = viscpm::generate;
#define VISCPM_TREE "before (generate/)"
#define VISCPM_HAS_READ_TO_HOST 0
#endif

using Clock = std::chrono::steady_clock;

namespace {

thread_local long long op_reads = 0;

long long host_reads_now() {
#if VISCPM_HAS_READ_TO_HOST
  return op_reads + viscpm::host_reads();
#else
  return op_reads;
#endif
}

struct Turn {
  double seconds;
  long long steps, reads;
  std::vector<double> step_ms;  // between consecutive decoder polls
};

}  // namespace

int main(int argc, char** argv) {
  std::string fixtures = "../shared/fixtures";
  int layers = 8, dim = 1024, short_len = 4, long_len = 20, repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--fixtures") fixtures = v;
    else if (k == "--layers") layers = std::stoi(v);
    else if (k == "--dim") dim = std::stoi(v);
    else if (k == "--short") short_len = std::stoi(v);
    else if (k == "--length") long_len = std::stoi(v);
    else if (k == "--repeat") repeat = std::stoi(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  c10::InferenceMode guard;
  auto tokenizer = std::make_shared<const viscpm::text::Tokenizer>(
      viscpm::text::Tokenizer::from_file(fixtures + "/vocab/bee.txt"));
  viscpm::cpmbee::CpmBeeConfig config;
  config.num_layers = layers;
  config.dim_model = dim;
  config.num_heads = dim / 64;
  config.dim_head = 64;
  config.dim_ff = dim * 5 / 2;
  config.half = false;
  const auto vision_config = viscpm::vision::Beit3Config::load(fixtures + "/models/chat/beit3.json");
  viscpm::vision::VisionEncoder vision(vision_config, config.dim_model, at::TensorOptions().dtype(at::kFloat));
  for (auto& p : vision->parameters()) p.normal_(0.0, 0.02);
  viscpm::cpmbee::CpmBee llm(config, at::kFloat);
  llm->init_random_(1234, 1.0);
  auto model = chatns::ChatModel::assemble(tokenizer, vision, llm);
  auto rgb = demons::demo_image_rgb(96, 96);
  auto image = viscpm::vision::Image::wrap_packed(rgb.data(), rgb.size(), 96, 96, viscpm::vision::PixelFormat::kRGB);
  auto session = model->start_session(image.view());

  const auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback([](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
        const char* n = fn.name();
        if (!std::strcmp(n, "aten::_local_scalar_dense") || !std::strcmp(n, "aten::equal") ||
            !std::strcmp(n, "aten::is_nonzero") || !std::strcmp(n, "aten::allclose"))
          ++op_reads;
        return nullptr;
      }).scopes({at::RecordScope::FUNCTION}));

  auto turn = [&](int max_length) {
    decodens::GenerationConfig g;  // beam search, 3 beams, the released settings
    g.max_length = max_length;
    auto s = model->start_session_with_states(session.vision_states());
    std::vector<double> step_ms;
    Clock::time_point last;
    bool polled = false;
    decodens::GenerationCallbacks callbacks;
    callbacks.should_continue = [&] {
      const auto now = Clock::now();
      if (polled) step_ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
      polled = true;
      last = now;
      return true;
    };
    const long long reads_before = host_reads_now();
    const auto t = Clock::now();
    const auto answer = s.ask("图片里有什么？请详细描述一下。", g, callbacks);
    return Turn{std::chrono::duration<double>(Clock::now() - t).count(), (long long)answer.model_steps,
                host_reads_now() - reads_before, step_ms};
  };
  std::printf("tree: %s | CPM-Bee L=%d D=%d H=%dx64 F=%d V=%lld fp32, beams 3, threads %d\n", VISCPM_TREE, layers,
              dim, dim / 64, dim * 5 / 2, (long long)config.vocab_size, at::get_num_threads());
  turn(2);  // warm-up
  std::vector<double> steps;
  double reads_per_step = 0;
  for (int r = 0; r < repeat; ++r) {
    const Turn a = turn(short_len), b = turn(long_len);
    steps.insert(steps.end(), b.step_ms.begin(), b.step_ms.end());
    reads_per_step = double(b.reads - a.reads) / std::max(1LL, b.steps - a.steps);
    std::printf("  turn %d: %lld steps in %.3f s (%lld host reads); %lld-step turn: %lld reads\n", r, b.steps,
                b.seconds, b.reads, a.steps, a.reads);
  }
  std::sort(steps.begin(), steps.end());
  double sum = 0;
  for (double x : steps) sum += x;
  std::printf("decode step (3 beams, %zu steps): median %.2f ms, mean %.2f ms, p10 %.2f, p90 %.2f; "
              "host reads per step %.2f\n",
              steps.size(), steps[steps.size() / 2], sum / steps.size(), steps[steps.size() / 10],
              steps[steps.size() * 9 / 10], reads_per_step);
  at::removeCallback(handle);
  return 0;
}
