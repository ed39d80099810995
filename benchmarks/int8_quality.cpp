// int8 weights against fp32 on a mid-size CPM-Bee (issue 10, item 3): the same random fp32
// model, once as it is and once with its matrices quantized per row (the weights `--dtype
// int8` loads), compared on
//   * next-token logits at every position of random chat-like prompts: top-1 agreement and
//     the cosine of the logit vectors (mean and worst), bf16 alongside for scale;
//   * the beam-search answers (3 beams, the released settings) of a set of questions about
//     one image, through the real chat pipeline (tiny BEiT-3 of the fixtures): how many are
//     token-identical;
//   * a decode step (1 and 3 rows) and a 128-token prefill, fp32 against int8, same run.
//
// usage: int8_quality [--fixtures DIR] [--layers 12] [--dim 1024] [--prompts 8] [--len 128]
//                     [--questions 50] [--answer 16] [--threads N]
#include "bench_common.h"
#include "common/runtime.h"
#include "cpmbee/model.h"
#include "kernels/ops.h"
#include "pipelines/chat/chat_model.h"
#include "testkit/demo/demo_chat.h"
#include "vision/vision_encoder.h"

#include <ATen/Parallel.h>
#include <ATen/ops/full.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/zeros.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <cstdio>
#include <string>
#include <vector>

using namespace viscpm;
using namespace viscpm::cpmbee;

namespace {

// The int8 twin of a dense model: matrices quantized per row, everything else copied.
CpmBee quantized_copy(const CpmBee& dense) {
  CpmBee q(dense->config(), dense->dtype(), dense->device(), WeightFormat::kInt8);
  for (const auto& item : q->named_parameters()) {
    const std::string& name = item.key();
    if (name.size() > 6 && name.compare(name.size() - 6, 6, "_scale") == 0) continue;  // set with its values
    at::Tensor target = item.value();
    const at::Tensor source = dense->parameter(name);
    if (target.scalar_type() == at::kChar) {
      at::Tensor scales = q->parameter(name + "_scale");
      kernels::quantize_int8_rows(source, target, scales);
    } else {
      target.copy_(source);
    }
  }
  return q;
}

CpmBee converted_copy(const CpmBee& dense, at::ScalarType dtype) {
  CpmBee c(dense->config(), dtype);
  for (const auto& item : c->named_parameters()) {
    at::Tensor target = item.value();
    target.copy_(dense->parameter(item.key()));
  }
  return c;
}

// Top-1 agreement and logit cosine, plus where the flips happen: the fp32 margin between
// its best and second-best logit at the flipped positions, against the typical margin and
// the size of the perturbation (RMS logit difference). A random model's next-token
// distribution is nearly flat (86k near-Gaussian logits), so many positions are near-ties
// that any perturbation of the weights decides; trained models are far more peaked.
struct Agreement {
  int64_t positions = 0, same_top1 = 0, confident = 0, confident_same = 0;
  double cosine_sum = 0, cosine_min = 1, flip_margin_max = 0, perturbation_sq = 0;
  std::vector<double> margins;
  void add(const at::Tensor& reference, const at::Tensor& other) {  // [L, V]
    at::Tensor r = reference.to(at::kDouble), o = other.to(at::kDouble);
    at::Tensor same = r.argmax(-1).eq(o.argmax(-1));
    same_top1 += same.sum().item<int64_t>();
    at::Tensor cos = (r * o).sum(-1) / (r.norm(2, -1) * o.norm(2, -1));
    cosine_sum += cos.sum().item<double>();
    cosine_min = std::min(cosine_min, cos.min().item<double>());
    at::Tensor top2 = std::get<0>(r.topk(2, -1));
    at::Tensor margin = top2.select(-1, 0) - top2.select(-1, 1);
    at::Tensor rms = (r - o).pow(2).mean(-1).sqrt();
    perturbation_sq += (r - o).pow(2).mean(-1).sum().item<double>();
    for (int64_t i = 0; i < r.size(0); ++i) {
      const double m = margin[i].item<double>();
      margins.push_back(m);
      if (!same[i].item<bool>()) flip_margin_max = std::max(flip_margin_max, m);
      // "Confident": the fp32 margin exceeds 4x this position's RMS logit difference.
      if (m > 4 * rms[i].item<double>()) {
        ++confident;
        confident_same += same[i].item<bool>() ? 1 : 0;
      }
    }
    positions += r.size(0);
  }
  void print(const char* what) const {
    std::vector<double> sorted = margins;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
    std::printf("%-26s positions %lld, top-1 agreement %.2f %% (%lld differ), logit cosine mean %.6f, worst %.6f\n", what,
                (long long)positions, 100.0 * same_top1 / std::max<int64_t>(1, positions),
                (long long)(positions - same_top1), cosine_sum / std::max<int64_t>(1, positions), cosine_min);
    std::printf("%-26s RMS logit difference %.4f; fp32 top-1/top-2 margin median %.4f, largest at a flip %.4f; "
                "positions with margin > 4x their RMS difference: %lld, top-1 agreement there %.2f %%\n", "",
                std::sqrt(perturbation_sq / std::max<int64_t>(1, positions)), median, flip_margin_max,
                (long long)confident, 100.0 * confident_same / std::max<int64_t>(1, confident));
  }
};

double decode_ms(const CpmBee& model, const CpmBeeInputs& prompt, int64_t rows, int steps) {
  KvCache cache = model->new_cache(rows, prompt.input_ids.size(1) + steps + 1);
  model->prefill(prompt, cache, {}, LogitsMode::kLast);
  const auto longs = at::TensorOptions().dtype(at::kLong);
  std::vector<double> times;
  for (int i = 0; i < steps + 1; ++i) {
    StepInputs s;
    s.token_ids = at::randint(10, model->config().vocab_size, {rows}, longs);
    s.token_subs = at::zeros({rows}, longs);
    s.positions = at::full({rows}, i, longs);
    s.segment_ids = at::full({rows}, 8, longs);
    const double t = bench::seconds([&] { model->decode_step(s, cache); });
    if (i > 0) times.push_back(t * 1e3);  // the first step warms up
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string fixtures = "../shared/fixtures";
  int layers = 12, dim = 1024, prompts = 8, len = 128, questions = 50, answer = 16, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--fixtures") fixtures = v;
    else if (k == "--layers") layers = std::stoi(v);
    else if (k == "--dim") dim = std::stoi(v);
    else if (k == "--prompts") prompts = std::stoi(v);
    else if (k == "--len") len = std::stoi(v);
    else if (k == "--questions") questions = std::stoi(v);
    else if (k == "--answer") answer = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  if (threads > 0) runtime::set_num_threads(threads);
  c10::InferenceMode guard;
  auto tokenizer = std::make_shared<const text::Tokenizer>(text::Tokenizer::from_file(fixtures + "/vocab/bee.txt"));
  CpmBeeConfig config;  // the released config's buckets and vocabulary, mid-size widths
  config.num_layers = layers;
  config.dim_model = dim;
  config.num_heads = dim / 64;
  config.dim_head = 64;
  config.dim_ff = dim * 5 / 2;
  config.vocab_size = tokenizer->vocab_size();
  config.half = false;
  std::printf("CPM-Bee mid-size: L=%d D=%d H=%lldx64 F=%lld V=%lld; threads %d\n", layers, dim,
              (long long)config.num_heads, (long long)config.dim_ff, (long long)config.vocab_size, at::get_num_threads());

  CpmBee dense(config, at::kFloat);
  dense->init_random_(1234, 1.0);
  CpmBee int8 = quantized_copy(dense);
  CpmBee bf16 = converted_copy(dense, at::kBFloat16);
  double dense_bytes = 0, int8_bytes = 0;
  for (const auto& p : dense->parameters()) dense_bytes += double(p.nbytes());
  for (const auto& p : int8->parameters()) int8_bytes += double(p.nbytes());
  std::printf("weights: fp32 %.1f MB, int8 %.1f MB (%.2fx smaller)\n", dense_bytes / 1e6, int8_bytes / 1e6,
              dense_bytes / int8_bytes);

  // 1. Next-token logits at every position.
  at::manual_seed(42);
  Agreement int8_vs_fp32, bf16_vs_fp32;
  for (int i = 0; i < prompts; ++i) {
    const CpmBeeInputs p = bench::random_prompt(len, config.vocab_size);
    at::Tensor reference = dense->forward(p, {}, LogitsMode::kAll).logits.select(0, 0);
    int8_vs_fp32.add(reference, int8->forward(p, {}, LogitsMode::kAll).logits.select(0, 0));
    bf16_vs_fp32.add(reference, bf16->forward(p, {}, LogitsMode::kAll).logits.select(0, 0));
  }
  int8_vs_fp32.print("int8 vs fp32:");
  bf16_vs_fp32.print("bf16 vs fp32 (for scale):");
  std::fflush(stdout);

  // 2. Beam-search answers through the chat pipeline.
  const auto vision_config = vision::Beit3Config::load(fixtures + "/models/chat/beit3.json");
  vision::VisionEncoder vision(vision_config, config.dim_model, at::TensorOptions().dtype(at::kFloat));
  for (auto& p : vision->parameters()) p.normal_(0.0, 0.02);
  auto dense_chat = chat::ChatModel::assemble(tokenizer, vision, dense);
  auto int8_chat = chat::ChatModel::assemble(tokenizer, vision, int8);
  // bf16 as the control: the same comparison for the other common way to halve the weights.
  vision::VisionEncoder vision_bf16(vision_config, config.dim_model, at::TensorOptions().dtype(at::kBFloat16));
  for (const auto& item : vision_bf16->named_parameters()) {
    at::Tensor target = item.value();
    target.copy_(vision->parameter(item.key()));
  }
  auto bf16_chat = chat::ChatModel::assemble(tokenizer, vision_bf16, bf16);
  auto rgb = testkit::demo_image_rgb(96, 96);
  auto image = vision::Image::wrap_packed(rgb.data(), rgb.size(), 96, 96, vision::PixelFormat::kRGB);
  const at::Tensor states = dense_chat->start_session(image.view()).vision_states();
  const at::Tensor states_bf16 = states.to(at::kBFloat16);
  const std::vector<std::string> subjects = {"图片", "这只猫", "天空", "桌子上", "画面左边", "the picture", "the dog",
                                             "the sky", "this scene", "the person"};
  const std::vector<std::string> asks = {"里有什么？", "是什么颜色？", "在做什么？", "有几个？", "看起来怎么样？"};
  decoding::GenerationConfig generation;
  generation.max_length = answer;
  int identical = 0, total_tokens = 0, same_prefix_tokens = 0, identical_bf16 = 0, same_prefix_bf16 = 0;
  double dense_s = 0, int8_s = 0;
  auto common_prefix = [](const std::vector<int32_t>& x, const std::vector<int32_t>& y) {
    size_t n = 0;
    while (n < x.size() && n < y.size() && x[n] == y[n]) ++n;
    return int(n);
  };
  for (int q = 0; q < questions; ++q) {
    const std::string question = subjects[q % subjects.size()] + asks[(q / subjects.size()) % asks.size()] +
                                 (q >= int(subjects.size() * asks.size()) ? std::to_string(q) : std::string());
    chat::ChatTurn a, b;
    dense_s += bench::seconds([&] { a = dense_chat->start_session_with_states(states).ask(question, generation); });
    int8_s += bench::seconds([&] { b = int8_chat->start_session_with_states(states).ask(question, generation); });
    const chat::ChatTurn c = bf16_chat->start_session_with_states(states_bf16).ask(question, generation);
    identical += a.token_ids == b.token_ids ? 1 : 0;
    identical_bf16 += a.token_ids == c.token_ids ? 1 : 0;
    same_prefix_tokens += common_prefix(a.token_ids, b.token_ids);
    same_prefix_bf16 += common_prefix(a.token_ids, c.token_ids);
    total_tokens += int(a.token_ids.size());
  }
  std::printf("beam search (3 beams, max_length %d), %d questions: token-identical to fp32: int8 %d, bf16 %d; fp32 answer "
              "tokens before the first difference: int8 %d, bf16 %d of %d; time fp32 %.1f s, int8 %.1f s\n",
              answer, questions, identical, identical_bf16, same_prefix_tokens, same_prefix_bf16, total_tokens, dense_s,
              int8_s);
  std::fflush(stdout);

  // 3. Speed, same run.
  const CpmBeeInputs p = bench::random_prompt(len, config.vocab_size);
  for (int rows : {1, 3}) {
    const double d = decode_ms(dense, p, rows, 8), q = decode_ms(int8, p, rows, 8);
    std::printf("decode step, %d row(s): fp32 %.1f ms, int8 %.1f ms (%.2fx)\n", rows, d, q, d / q);
  }
  const auto prefill = [&](const CpmBee& m) {
    return bench::time_repeats(2, [&] {
      KvCache cache = m->new_cache(1, len);
      m->prefill(p, cache, {}, LogitsMode::kLast);
    });
  };
  const auto pd = prefill(dense), pq = prefill(int8);
  std::printf("prefill %d tokens: fp32 %.0f ms, int8 %.0f ms (%.2fx)\n", len, pd.median * 1e3, pq.median * 1e3,
              pd.median / pq.median);
  return 0;
}
