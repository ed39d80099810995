// Full-size check of VisCPM-Chat on the CPU: the released configurations (BEiT-3 large,
// models/beit3-large.json, and CPM-Bee 10B, models/cpm-bee-10b.json) with random bf16
// weights allocated directly in bf16 and filled in place, the real vocabulary, one image
// encoded and one chat turn of beam search (3 beams) generating 8 tokens (max_length 6:
// the reference caps answers at max_length + 2 tokens). Prints timings and peak RSS.
//
// usage: chat_fullsize VOCAB_BEE_TXT [--threads N] [--max-length N]
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/runtime.h"
#include "cpmbee/model.h"
#include "pipelines/chat/chat_model.h"
#include "testkit/demo/demo_chat.h"
#include "vision/vision_encoder.h"

using Clock = std::chrono::steady_clock;
namespace chat = viscpm::chat;
namespace decoding = viscpm::decoding;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / (1024.0 * 1024.0);
}
}  // namespace

int main(int argc, char** argv) {
  std::ofstream("/proc/self/oom_score_adj") << 1000;  // if memory runs out, kill this, not a neighbour
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s VOCAB_BEE_TXT [--threads N] [--max-length N]\n", argv[0]);
    return 2;
  }
  std::string vocab = argv[1];
  int threads = 0, max_length = 6;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--max-length" && i + 1 < argc) max_length = std::stoi(argv[++i]);
  }
  if (threads > 0) viscpm::runtime::set_num_threads(threads);  // every pool, as the library sets them
  c10::InferenceMode guard;

  auto t = Clock::now();
  auto tokenizer = std::make_shared<const viscpm::text::Tokenizer>(viscpm::text::Tokenizer::from_file(vocab));
  const auto llm_config = viscpm::cpmbee::CpmBeeConfig::cpm_bee_10b();
  const auto vision_config = viscpm::vision::Beit3Config{};  // defaults: the released BEiT-3 large
  viscpm::vision::VisionEncoder vision(vision_config, llm_config.dim_model,
                                       at::TensorOptions().dtype(at::kBFloat16));
  for (auto& p : vision->parameters()) p.normal_(0.0, 0.02);
  viscpm::cpmbee::CpmBee llm(llm_config, at::kBFloat16);
  llm->init_random_(1234, 1.0);
  std::printf("random bf16 BEiT-3 large + CPM-Bee 10B: %.1f s, peak RSS %.2f GiB\n", seconds_since(t), peak_rss_gib());
  std::fflush(stdout);

  auto model = chat::ChatModel::assemble(tokenizer, vision, llm);
  auto rgb = viscpm::testkit::demo_image_rgb(320, 240);
  auto image = viscpm::vision::Image::wrap_packed(rgb.data(), rgb.size(), 320, 240, viscpm::vision::PixelFormat::kRGB);
  t = Clock::now();
  auto session = model->start_session(image.view());
  std::printf("image encoded (BEiT-3 large, 64 queries, mapping): %.2f s, peak RSS %.2f GiB\n", seconds_since(t),
              peak_rss_gib());
  std::fflush(stdout);

  decoding::GenerationConfig config;  // beam search, 3 beams, the released settings
  config.max_length = max_length;
  int pieces = 0;
  Clock::time_point first;
  decoding::GenerationCallbacks callbacks;
  callbacks.on_text = [&](const std::string&) {
    if (pieces++ == 0) first = Clock::now();
  };
  t = Clock::now();
  auto turn = session.ask("图片里有什么？请详细描述一下。", config, callbacks);
  double total = seconds_since(t);
  std::printf("turn: prompt %zu tokens, %zu tokens generated (%lld model steps), %.1f s total, %.2f s per token "
              "(prefill included), first text after %.1f s; peak RSS %.2f GiB\n",
              turn.prompt_input_ids.size(), turn.token_ids.size(), (long long)turn.model_steps, total,
              total / std::max<size_t>(1, turn.token_ids.size()),
              pieces ? std::chrono::duration<double>(first - t).count() : -1.0, peak_rss_gib());
  return 0;
}
