// int8 weights: the per-row quantization, the int8 products against their dequantized
// float64 truth (streaming kernel and BLAS path), CPM-Bee loaded as int8 from a float
// checkpoint and from a quantized one (same bits), the refusals, and `viscpm quantize` on
// the demo models end to end.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "cpmbee/model.h"
#include "cpmbee_test_support.h"
#include "io/tensor_source.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/ops.h"
#include "pipelines/chat/chat_model.h"
#include "pipelines/paint/paint_model.h"
#include "pipelines/quantize.h"
#include "test_support.h"
#include "testkit/demo/demo_chat.h"
#include "testkit/demo/demo_paint.h"

namespace viscpm::cpmbee {
namespace {

namespace fs = std::filesystem;
using viscpm::testing::ScratchDir;
using namespace viscpm::cpmbee::testing;

at::Tensor randn(at::IntArrayRef shape, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

// x·(q·diag(s))ᵀ in float64: what every int8 product approximates by its fp32 sums.
at::Tensor truth(const at::Tensor& x, const at::Tensor& q, const at::Tensor& s) {
  at::Tensor w = q.to(at::kDouble) * s.to(at::kDouble).unsqueeze(1);
  return at::matmul(x.to(at::kDouble), w.t());
}

TEST(Int8Quantization, RowsKeepTheirRangeAndRoundToNearest) {
  at::Tensor w = randn({37, 53}, 1) * 3.0;
  w[5].zero_();
  at::Tensor q, s;
  kernels::quantize_int8_rows(w, q, s);
  ASSERT_EQ(q.scalar_type(), at::kChar);
  ASSERT_EQ(s.scalar_type(), at::kFloat);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{37}));
  EXPECT_EQ(s[5].item<float>(), 1.0f);  // an all-zero row: scale 1, values 0
  EXPECT_EQ(q[5].abs().max().item<int>(), 0);
  for (int64_t n = 0; n < 37; ++n) {
    if (n == 5) continue;
    EXPECT_EQ(q[n].abs().max().item<int>(), 127) << "row " << n;  // the largest weight maps to ±127
    EXPECT_FLOAT_EQ(s[n].item<float>(), w[n].abs().max().item<float>() / 127.0f);
  }
  // Reconstruction error at most half a step per row.
  at::Tensor error = (q.to(at::kDouble) * s.to(at::kDouble).unsqueeze(1) - w.to(at::kDouble)).abs();
  at::Tensor half_step = s.to(at::kDouble).unsqueeze(1) * (0.5 + 1e-6);
  EXPECT_TRUE(error.le(half_step).all().item<bool>());
  // Into defined outputs (a model's parameters): the same values.
  at::Tensor q2 = at::zeros({37, 53}, at::kChar), s2 = at::zeros({37}, at::kFloat);
  kernels::quantize_int8_rows(w.to(at::kBFloat16).to(at::kFloat), q2, s2);
  EXPECT_EQ(q2.sizes(), q.sizes());
  EXPECT_THROW(kernels::quantize_int8_rows(at::zeros({3}, at::kFloat), q2, s2), InvalidArgument);
}

TEST(Int8Linear, MatchesTheDequantizedProductForEveryRowCountAndDtype) {
  at::Tensor q, s;
  // K not a multiple of 16 (tails), N not a multiple of the kernel's row blocks.
  kernels::quantize_int8_rows(randn({203, 147}, 2), q, s);
  for (int64_t rows : {1, 2, 3, 4, 5, 8, 9, 40}) {
    for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
      at::Tensor x = randn({rows, 147}, 10 + rows).to(dtype);
      at::Tensor y = kernels::linear_int8(x, q, s);
      ASSERT_EQ(y.scalar_type(), dtype);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{rows, 203}));
      at::Tensor expected = truth(x, q, s);
      // fp32 sums of 147 terms; then one rounding to the output dtype.
      const double rounding = dtype == at::kFloat ? 0.0 : (dtype == at::kHalf ? 1.0 / 1024 : 1.0 / 128);
      at::Tensor bound = expected.abs() * (rounding + 1e-5) + 1e-4;
      EXPECT_TRUE((y.to(at::kDouble) - expected).abs().le(bound).all().item<bool>())
          << rows << " rows, " << c10::toString(dtype) << ": max error "
          << (y.to(at::kDouble) - expected).abs().max().item<double>();
    }
  }
  // [B, L, K] inputs keep their leading dimensions.
  EXPECT_EQ(kernels::linear_int8(randn({2, 3, 147}, 3), q, s).sizes(), (std::vector<int64_t>{2, 3, 203}));
  EXPECT_THROW(kernels::linear_int8(randn({2, 146}, 3), q, s), InvalidArgument);
  EXPECT_THROW(kernels::linear_int8(randn({2, 147}, 3), q.to(at::kFloat), s), InvalidArgument);
}

TEST(Int8Linear, StreamingKernelAndBlasPathAgree) {
  at::Tensor q, s;
  kernels::quantize_int8_rows(randn({300, 1040}, 4), q, s);
  for (int64_t rows : {1, 3, 8}) {
    at::Tensor x = randn({rows, 1040}, 5);
    at::Tensor streamed = kernels::linear_int8(x, q, s);  // AVX-512 where the CPU has it
    kernels::cpu::set_int8_avx512_enabled(false);
    at::Tensor avx2 = kernels::linear_int8(x, q, s);
    kernels::cpu::set_int8_avx512_enabled(true);
    kernels::cpu::set_int8_streaming_kernel_enabled(false);
    at::Tensor blocked = kernels::linear_int8(x, q, s);
    kernels::cpu::set_int8_streaming_kernel_enabled(true);
    const double scale = blocked.abs().max().item<double>();
    EXPECT_LT(max_diff(streamed, blocked), 1e-4 * scale) << rows << " rows";
    EXPECT_LT(max_diff(avx2, blocked), 1e-4 * scale) << rows << " rows";
  }
  std::printf("int8 streaming kernel: %s form on this CPU\n", kernels::cpu::int8_avx512_active() ? "AVX-512" : "AVX2");
}

// The state dict of a model under "llm." as a checkpoint writer takes it.
std::vector<std::pair<std::string, at::Tensor>> state_dict(const CpmBeeImpl& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : model.named_parameters()) out.emplace_back("llm." + item.key(), item.value().contiguous());
  return out;
}

TEST(CpmBeeInt8, LoadsFromFloatAndFromQuantizedCheckpointsWithTheSameBits) {
  ScratchDir dir("viscpm_int8");
  const CpmBeeConfig config = small_config();
  CpmBee dense = random_model(config, 7);
  io::save_torch_zip(dir.path / "float.pt", state_dict(*dense));

  const auto float_source = io::TensorSource::open(dir.path / "float.pt");
  EXPECT_FALSE(holds_int8_matrices(*float_source));
  CpmBee from_float(config, at::kFloat, at::kCPU, WeightFormat::kInt8);
  from_float->load_weights(*float_source);
  EXPECT_EQ(from_float->weight_format(), WeightFormat::kInt8);
  EXPECT_EQ(from_float->input_embedding->weight.scalar_type(), at::kChar);
  EXPECT_EQ(from_float->encoder->blocks[0]->self_att->self_attention->qkv_weight.scalar_type(), at::kChar);
  EXPECT_EQ(from_float->encoder->blocks[0]->ffn->layernorm_before_ffn->weight.scalar_type(), at::kFloat);

  io::save_safetensors(dir.path / "int8.safetensors", state_dict(*from_float));
  const auto int8_source = io::TensorSource::open(dir.path / "int8.safetensors");
  EXPECT_TRUE(holds_int8_matrices(*int8_source));
  CpmBee from_int8(config, at::kFloat, at::kCPU, WeightFormat::kInt8);
  from_int8->load_weights(*int8_source);
  for (const auto& item : from_float->named_parameters())
    EXPECT_TRUE(at::equal(item.value(), from_int8->parameter(item.key()))) << item.key();

  // Close to the float model it came from; the two int8 loads give the same bits.
  const Request r = random_request(config, 12, 3, 8);
  at::Tensor reference = dense->forward(r.prompt).logits;
  at::Tensor a = from_float->forward(r.prompt).logits, b = from_int8->forward(r.prompt).logits;
  EXPECT_TRUE(at::equal(a, b));
  const double cosine = (a.flatten().to(at::kDouble).dot(reference.flatten().to(at::kDouble)) /
                         (a.to(at::kDouble).norm() * reference.to(at::kDouble).norm()))
                            .item<double>();
  EXPECT_GT(cosine, 0.999);

  // Incremental decoding runs on int8 weights: prefill + steps equal the full pass's last logits.
  KvCache cache = from_int8->new_cache(1, 16);
  from_int8->prefill(r.prompt, cache);
  const StepOutput step = from_int8->decode_step(chat_step({5}, 12, r.answer_segment), cache);
  at::Tensor full = from_int8->forward(with_answer(r, {5})).logits.select(1, 12);
  EXPECT_LT(max_diff(step.logits, full), 1e-3 * full.abs().max().item<double>());

  // A dense model refuses int8 values; a model without a quantizer refuses float ones.
  CpmBee refuses(config);
  try {
    refuses->load_weights(*int8_source);
    FAIL() << "a float model loaded int8 weights";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("load it with dtype int8"), std::string::npos) << e.what();
  }
}

TEST(CpmBeeInt8, RandomInitGivesTheRequestedSpread) {
  CpmBee model(small_config(), at::kFloat, at::kCPU, WeightFormat::kInt8);
  model->init_random_(3, 0.5);
  at::Tensor w = model->encoder->blocks[1]->ffn->ffn->w_out->weight;
  at::Tensor s = model->encoder->blocks[1]->ffn->ffn->w_out->weight_scale;
  at::Tensor values = w.to(at::kDouble) * s.to(at::kDouble).unsqueeze(1);
  EXPECT_NEAR(values.std().item<double>(), 0.5, 0.05);
}

TEST(Quantize, ChatDirectoryLoadsAsInt8AndAnswers) {
  ScratchDir dir("viscpm_quantize");
  testkit::write_demo_chat_model(dir.path / "chat");
  const auto report = pipelines::quantize_model_directory(dir.path / "chat", dir.path / "chat-int8");
  EXPECT_EQ(report.checkpoint, dir.path / "chat-int8" / "viscpm_chat.int8.safetensors");
  EXPECT_GT(report.quantized_tensors, 0);
  EXPECT_LT(report.bytes_after, report.bytes_before);
  EXPECT_TRUE(fs::exists(dir.path / "chat-int8" / "vocab" / "bee.txt"));
  EXPECT_TRUE(fs::exists(dir.path / "chat-int8" / "cpm-bee.json"));
  EXPECT_FALSE(fs::exists(dir.path / "chat-int8" / "viscpm_chat.pt"));

  // AUTO follows the checkpoint; int8 at load from the float directory gives the same bits.
  auto quantized = chat::ChatModel::load(dir.path / "chat-int8");
  chat::ChatModelOptions int8;
  int8.llm_matrices = WeightFormat::kInt8;
  auto at_load = chat::ChatModel::load(dir.path / "chat", int8);
  auto dense = chat::ChatModel::load(dir.path / "chat");
  const auto pixels = testkit::demo_image_rgb(64, 48);
  auto image = vision::Image::wrap_packed(pixels.data(), pixels.size(), 64, 48, vision::PixelFormat::kRGB);
  decoding::GenerationConfig config;
  config.max_length = 8;
  const auto a = quantized->start_session(image.view()).ask("图片里有什么？", config);
  const auto b = at_load->start_session(image.view()).ask("图片里有什么？", config);
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_FALSE(a.token_ids.empty());
  (void)dense->start_session(image.view()).ask("图片里有什么？", config);

  // A float dtype refuses the quantized directory, with the way out in the message.
  chat::ChatModelOptions dense_only;
  dense_only.llm_matrices = WeightFormat::kDense;
  try {
    chat::ChatModel::load(dir.path / "chat-int8", dense_only);
    FAIL() << "a dense model loaded a quantized checkpoint";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("viscpm quantize"), std::string::npos) << e.what();
  }
  // Quantizing twice, into a full directory, or into the model directory itself is refused.
  EXPECT_THROW(pipelines::quantize_model_directory(dir.path / "chat-int8", dir.path / "again"), FormatError);
  EXPECT_THROW(pipelines::quantize_model_directory(dir.path / "chat", dir.path / "chat-int8"), InvalidArgument);
  EXPECT_THROW(pipelines::quantize_model_directory(dir.path / "chat", dir.path / "chat" / "out"), InvalidArgument);
}

TEST(Quantize, CancelLeavesNoCheckpointAndPaintLoadsQuantized) {
  ScratchDir dir("viscpm_quantize_paint");
  testkit::write_demo_paint_model(dir.path / "paint");
  int64_t calls = 0;
  EXPECT_THROW(pipelines::quantize_model_directory(dir.path / "paint", dir.path / "cancelled", WeightFormat::kInt8,
                                                   [&](int64_t, int64_t) { return ++calls < 3; }),
               Cancelled);
  EXPECT_FALSE(fs::exists(dir.path / "cancelled" / "viscpm_paint.int8.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path / "cancelled" / "viscpm_paint.int8.safetensors.partial"));

  int64_t last_done = 0, last_total = 0;
  pipelines::quantize_model_directory(dir.path / "paint", dir.path / "paint-int8", WeightFormat::kInt8,
                                      [&](int64_t done, int64_t total) {
                                        last_done = done;
                                        last_total = total;
                                        return true;
                                      });
  EXPECT_EQ(last_done, last_total);
  auto model = paint::PaintModel::load(dir.path / "paint-int8");
  EXPECT_EQ(model->language_model().weight_format(), WeightFormat::kInt8);
  paint::PaintRequest request;
  request.prompt = "橘猫";
  request.num_inference_steps = 2;
  const auto result = model->generate(request);
  EXPECT_GT(result.images.numel(), 0);
}

}  // namespace
}  // namespace viscpm::cpmbee
