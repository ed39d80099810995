// VisCPM-Paint pipeline: golden case, seeds and injected noise, every scheduler end to end,
// batches of images, progress/cancellation, bad requests, model-directory layouts and
// missing/mismatched files, the demo model round trip.
#include <ATen/core/Generator.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

#include "test_support.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <limits>

#include "common/error.h"
#include "common/host_read.h"
#include "pipelines/paint/paint_model.h"
#include "io/tensor_source.h"
#include "testkit/demo/demo_paint.h"

namespace fs = std::filesystem;
using namespace viscpm;
using namespace viscpm::diffusion;
using namespace viscpm::paint;
using viscpm::testkit::write_demo_paint_model;

namespace {

nlohmann::json manifest() {
  std::ifstream in(viscpm::testing::fixtures_dir() / "manifest.json");
  return nlohmann::json::parse(in);
}

fs::path fixture(const std::string& relative) { return viscpm::testing::fixtures_dir() / relative; }

// The fixtures' tiny VisCPM-Paint model, as the manifest names its files.
PaintModelPaths fixture_paths() {
  const auto m = manifest();
  const auto& paint = m.at("models").at("paint");
  const fs::path vae_dir = fixture(paint.at("vae_dir").get<std::string>());
  PaintModelPaths p;
  p.checkpoint = fixture(paint.at("checkpoint").get<std::string>());
  p.cpm_bee_config = fixture(paint.at("cpm_bee_config").get<std::string>());
  p.vocabulary = fixture(m.at("vocab").get<std::string>());
  p.unet_config = fixture(paint.at("unet_config").get<std::string>());
  p.vae_config = vae_dir / "config.json";
  p.vae_weights = vae_dir / "diffusion_pytorch_model.safetensors";
  p.scheduler_config = fixture(paint.at("scheduler_config").get<std::string>());
  return p;
}

std::shared_ptr<PaintModel> fixture_model() {
  static std::shared_ptr<PaintModel> model = [] {
    PaintModelOptions options;
    options.llm_dtype = at::kFloat;
    return PaintModel::load(fixture_paths(), options);
  }();
  return model;
}

PaintRequest small_request(uint64_t seed = 7) {
  PaintRequest r;
  r.prompt = "一只橘猫 oil painting";
  r.num_inference_steps = 3;
  r.width = r.height = 64;
  r.seed = seed;
  return r;
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) { return a.sizes() == b.sizes() && at::equal(a, b); }

// A scratch folder removed at the end of the test.
struct TempDir : viscpm::testing::ScratchDir {
  TempDir() : ScratchDir("viscpm_paint_test") {}
};

void link_file(const fs::path& target, const fs::path& link_path) {
  fs::create_directories(link_path.parent_path());
  fs::create_symlink(target, link_path);
}

// A model directory made of links to the fixture files; `hub` picks the SD folder layout.
void make_model_dir(const fs::path& dir, bool hub) {
  const PaintModelPaths p = fixture_paths();
  link_file(p.checkpoint, dir / "viscpm_paint.pt");
  link_file(p.cpm_bee_config, dir / "cpm-bee.json");
  link_file(p.vocabulary, dir / "bee.txt");
  const fs::path sd = hub ? dir / "stabilityai" / "stable-diffusion-2-1-base" : dir;
  link_file(p.unet_config, sd / "unet" / "config.json");
  link_file(p.vae_config, sd / "vae" / "config.json");
  link_file(p.vae_weights, sd / "vae" / "diffusion_pytorch_model.safetensors");
  link_file(p.scheduler_config, sd / "scheduler" / "scheduler_config.json");
}

template <class E, class F>
std::string expect_throws(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception";
  return "";
}

}  // namespace

TEST(DiffusionPaint, GoldenPipelineCase) { viscpm::testing::expect_kind_passes("paint_pipeline"); }

TEST(DiffusionPaint, SameSeedSameBytesOtherSeedDiffers) {
  auto model = fixture_model();
  const PaintResult a = model->generate(small_request(11));
  const PaintResult b = model->generate(small_request(11));
  const PaintResult c = model->generate(small_request(12));
  ASSERT_EQ(a.images.sizes(), at::IntArrayRef({1, 64, 64, 3}));
  EXPECT_EQ(a.images.scalar_type(), at::kByte);
  EXPECT_TRUE(same_bytes(a.images, b.images));
  EXPECT_FALSE(same_bytes(a.images, c.images));
  EXPECT_EQ(a.seed, 11u);
  EXPECT_EQ(a.scheduler, "ddpm");
  EXPECT_EQ(a.steps, 3);
}

// A CUDA graph can replay a denoising step only if the step reads nothing back to the host:
// the reads of a whole call must not grow with the number of steps, for any scheduler.
TEST(DiffusionPaint, DenoisingStepsReadNothingBackFromTheDevice) {
  auto model = fixture_model();
  for (const std::string scheduler : {"ddpm", "ddim", "pndm", "euler", "euler_ancestral", "dpmsolver_multistep"}) {
    auto reads_for = [&](int64_t steps) {
      PaintRequest r = small_request();
      r.scheduler = scheduler;
      r.num_inference_steps = steps;
      HostReadCounter reads;
      model->generate(r);
      return reads.count();
    };
    reads_for(1);  // once-per-process work (e.g. the BLAS probe) happens outside the comparison
    EXPECT_EQ(reads_for(2), reads_for(5)) << scheduler;
  }
}

TEST(DiffusionPaint, LowMemoryModeGivesTheSameBytesWithoutKeepingCpmBee) {
  PaintModelOptions options;
  options.llm_dtype = at::kFloat;
  options.low_memory = true;
  auto lean = PaintModel::load(fixture_paths(), options);
  EXPECT_TRUE(lean->low_memory());
  EXPECT_FALSE(fixture_model()->low_memory());
  expect_throws<Unsupported>([&] { lean->language_model(); });
  EXPECT_EQ(lean->llm_dtype(), at::kFloat);
  for (uint64_t seed : {3u, 4u}) {
    EXPECT_TRUE(same_bytes(lean->generate(small_request(seed)).images, fixture_model()->generate(small_request(seed)).images))
        << "seed " << seed;
  }
  // Its checks run at load: a checkpoint without CPM-Bee's weights fails there, not at the first image.
  viscpm::testing::ScratchDir dir;
  std::vector<std::pair<std::string, at::Tensor>> kept;
  const auto source = io::TensorSource::open(fixture_paths().checkpoint);
  for (const auto& e : source->entries())
    if (e.name.rfind("llm.encoder.layers.0.", 0) != 0) kept.emplace_back(e.name, source->read(e));
  io::save_torch_zip(dir.path / "no_layer0.pt", kept);
  PaintModelPaths paths = fixture_paths();
  paths.checkpoint = dir.path / "no_layer0.pt";
  EXPECT_NE(expect_throws<FormatError>([&] { PaintModel::load(paths, options); }).find("llm.encoder.layers.0."),
            std::string::npos);
}

TEST(DiffusionPaint, AssembleRefusesPartsThatDoNotFit) {
  auto model = fixture_model();
  auto tokenizer = std::shared_ptr<const text::Tokenizer>(&model->tokenizer(), [](const text::Tokenizer*) {});
  const auto& unet_config = model->unet().config();
  const auto options = at::TensorOptions().dtype(at::kFloat);
  cpmbee::CpmBee llm(model->language_model().config(), at::kFloat);
  UnetModel unet(unet_config, UnetOptions{});
  VaeDecoder vae(model->vae().config(), VaeOptions{});
  // The trans block's output must be the UNet's cross-attention width.
  TransBlock narrow(llm->config().dim_model, unet_config.cross_attention_dim + 1, options);
  EXPECT_NE(expect_throws<InvalidArgument>([&] {
              PaintModel::assemble(tokenizer, llm, narrow, unet, vae, model->scheduler_config());
            }).find("cross-attention"),
            std::string::npos);
  TransBlock fits(llm->config().dim_model, unet_config.cross_attention_dim, options);
  EXPECT_NE(expect_throws<InvalidArgument>([&] {
              PaintModel::assemble(tokenizer, llm, fits, UnetModel(nullptr), vae, model->scheduler_config());
            }).find("every part"),
            std::string::npos);
  auto assembled = PaintModel::assemble(tokenizer, llm, fits, unet, vae, model->scheduler_config());
  EXPECT_EQ(assembled->default_image_size(), model->default_image_size());
}

TEST(DiffusionPaint, RandomSeedIsReported) {
  auto model = fixture_model();
  PaintRequest r = small_request();
  r.seed.reset();
  r.num_inference_steps = 1;
  const PaintResult first = model->generate(r);
  r.seed = first.seed;
  EXPECT_TRUE(same_bytes(model->generate(r).images, first.images));
}

TEST(DiffusionPaint, GeneratorDrawOrderAndInjectedNoise) {
  auto model = fixture_model();
  PaintTrace trace;
  const PaintResult drawn = model->generate(small_request(42), {}, &trace);
  // One generator: the initial latents first, then one draw per DDPM step with t > 0.
  at::Generator gen = make_cpu_generator(42);
  const at::Tensor x_t = at::randn({1, 4, 8, 8}, gen, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(at::equal(trace.initial_latents.cpu(), x_t));
  ASSERT_EQ(trace.scheduler_noise.size(), 2u);
  EXPECT_TRUE(at::equal(trace.scheduler_noise[0].cpu(), at::randn({1, 4, 8, 8}, gen, at::TensorOptions().dtype(at::kFloat))));
  EXPECT_EQ(trace.unet_inputs.size(), 3u);
  EXPECT_EQ(trace.unet_outputs[0].sizes(), at::IntArrayRef({2, 4, 8, 8}));

  // The same draws injected (with another seed) give the same image.
  PaintRequest injected = small_request(999);
  injected.initial_latents = trace.initial_latents.clone();
  injected.step_noise = trace.scheduler_noise;
  EXPECT_TRUE(same_bytes(model->generate(injected).images, drawn.images));

  // Too few injected draws: a typed error, not a crash.
  injected.step_noise.pop_back();
  expect_throws<InvalidArgument>([&] { model->generate(injected); });
}

TEST(DiffusionPaint, SeveralImagesShareOneDrawAndContext) {
  auto model = fixture_model();
  PaintRequest r = small_request(5);
  r.num_images = 2;
  PaintTrace trace;
  const PaintResult out = model->generate(r, {}, &trace);
  ASSERT_EQ(out.images.sizes(), at::IntArrayRef({2, 64, 64, 3}));
  at::Generator gen = make_cpu_generator(5);
  EXPECT_TRUE(at::equal(trace.initial_latents.cpu(), at::randn({2, 4, 8, 8}, gen, at::TensorOptions().dtype(at::kFloat))));
  const at::Tensor ctx = trace.encoder_hidden_states.cpu();
  ASSERT_EQ(ctx.size(0), 4);
  EXPECT_TRUE(at::equal(ctx[0], ctx[1]));   // unconditional rows first
  EXPECT_TRUE(at::equal(ctx[2], ctx[3]));   // then the conditional rows
  EXPECT_FALSE(at::equal(ctx[0], ctx[2]));
  EXPECT_FALSE(same_bytes(out.images[0], out.images[1]));
  // The first image of the batch is not the single-image result (the draw is [2, ...]).
  EXPECT_FALSE(same_bytes(out.images[0], model->generate(small_request(5)).images[0]));
}

TEST(DiffusionPaint, PaddedUnconditionalPositionsAreConditioning) {
  auto model = fixture_model();
  const PaintConditioning c = model->encode_prompt("a cat sitting on a sofa", "");
  ASSERT_EQ(c.cond_hidden_states.size(1), c.uncond_hidden_states.size(1));
  const int64_t l = c.padded_length;
  // "" gives 14 tokens; every padded position carries the same vector (paint.md §3.3).
  const at::Tensor u = c.uncond_embeddings.cpu()[0];
  ASSERT_GT(l, 15);
  EXPECT_TRUE(at::allclose(u[14], u[l - 1]));
  EXPECT_TRUE(at::isfinite(u).all().item<bool>());
}

TEST(DiffusionPaint, EverySchedulerRunsEndToEnd) {
  auto model = fixture_model();
  for (const std::string& name : scheduler_names()) {
    SCOPED_TRACE(name);
    PaintRequest r = small_request(3);
    r.scheduler = name;
    const PaintResult out = model->generate(r);
    EXPECT_EQ(out.images.sizes(), at::IntArrayRef({1, 64, 64, 3}));
    EXPECT_EQ(out.scheduler, canonical_scheduler_name(name));
    EXPECT_GE(out.steps, 3);  // PNDM repeats one timestep
  }
}

TEST(DiffusionPaint, DdimEtaControlsRandomness) {
  auto model = fixture_model();
  PaintRequest r = small_request(1);
  r.scheduler = "ddim";
  r.initial_latents = at::randn({1, 4, 8, 8}, make_cpu_generator(77), at::TensorOptions().dtype(at::kFloat));
  PaintRequest other = r;
  other.seed = 2;
  // eta = 0 draws nothing after the initial latents: the seed no longer matters.
  EXPECT_TRUE(same_bytes(model->generate(r).images, model->generate(other).images));
  r.eta = other.eta = 1.0;
  EXPECT_FALSE(same_bytes(model->generate(r).images, model->generate(other).images));
}

TEST(DiffusionPaint, ProgressCallbackAndCancellation) {
  auto model = fixture_model();
  std::vector<std::pair<int64_t, int64_t>> calls;
  PaintCallbacks callbacks;
  callbacks.on_step = [&](int64_t step, int64_t total) {
    calls.emplace_back(step, total);
    return true;
  };
  model->generate(small_request(), callbacks);
  EXPECT_EQ(calls, (std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {2, 3}, {3, 3}}));

  calls.clear();
  callbacks.on_step = [&](int64_t step, int64_t total) {
    calls.emplace_back(step, total);
    return step < 2;
  };
  expect_throws<Cancelled>([&] { model->generate(small_request(), callbacks); });
  EXPECT_EQ(calls.size(), 2u);

  callbacks.on_step = [](int64_t, int64_t) -> bool { throw Cancelled("stop from the callback"); };
  EXPECT_NE(expect_throws<Cancelled>([&] { model->generate(small_request(), callbacks); }).find("from the callback"),
            std::string::npos);

  std::atomic<bool> cancel{true};
  PaintCallbacks flag;
  flag.cancel = &cancel;
  bool called = false;
  flag.on_step = [&](int64_t, int64_t) { return called = true; };
  expect_throws<Cancelled>([&] { model->generate(small_request(), flag); });
  EXPECT_FALSE(called);
}

TEST(DiffusionPaint, BadRequestsRaiseInvalidArgument) {
  auto model = fixture_model();
  auto bad = [&](const char* what, const std::function<void(PaintRequest&)>& edit) {
    SCOPED_TRACE(what);
    PaintRequest r = small_request();
    edit(r);
    return expect_throws<InvalidArgument>([&] { model->generate(r); });
  };
  EXPECT_NE(bad("odd width", [](PaintRequest& r) { r.width = 60; }).find("multiple of 8"), std::string::npos);
  EXPECT_NE(bad("unet multiple", [](PaintRequest& r) { r.height = 72; }).find("multiple of 64"), std::string::npos);
  bad("negative size", [](PaintRequest& r) { r.width = -64; });
  EXPECT_NE(bad("zero steps", [](PaintRequest& r) { r.num_inference_steps = 0; }).find("num_inference_steps"),
            std::string::npos);
  bad("too many steps", [](PaintRequest& r) { r.num_inference_steps = 1001; });
  EXPECT_NE(bad("nan guidance", [](PaintRequest& r) { r.guidance_scale = std::nan(""); }).find("guidance_scale"),
            std::string::npos);
  bad("inf guidance", [](PaintRequest& r) { r.guidance_scale = std::numeric_limits<double>::infinity(); });
  bad("nan eta", [](PaintRequest& r) { r.eta = std::nan(""); });
  bad("no images", [](PaintRequest& r) { r.num_images = 0; });
  bad("unknown scheduler", [](PaintRequest& r) { r.scheduler = "lms"; });
  bad("latent shape", [](PaintRequest& r) { r.initial_latents = at::zeros({1, 4, 16, 16}); });
  bad("noise shape", [](PaintRequest& r) { r.step_noise = {at::zeros({1, 4, 8, 8}), at::zeros({2, 4, 8, 8})}; });
  bad("unterminated special token", [](PaintRequest& r) { r.prompt = "a<b"; });
  bad("unknown special token", [](PaintRequest& r) { r.prompt = "a <foo> b"; });
  // Huge guidance overflows the latents into an all-black picture: refused up front.
  EXPECT_NE(bad("guidance 1e30", [](PaintRequest& r) { r.guidance_scale = 1e30; }).find("between 0 and 100"),
            std::string::npos);
  bad("negative guidance", [](PaintRequest& r) { r.guidance_scale = -1; });
  // Non-finite latents (however they arise) are an error, never a black PNG.
  EXPECT_NE(bad("inf latents", [](PaintRequest& r) {
              r.initial_latents = at::full({1, 4, 8, 8}, std::numeric_limits<float>::infinity());
            }).find("not finite"),
            std::string::npos);
}

TEST(DiffusionPaint, RequestsThatCannotFitInMemoryAreRefusedBeforeAllocating) {
  auto model = fixture_model();
  PaintRequest r = small_request();
  r.width = r.height = 65536;  // a 64k x 64k picture: the attention scores alone are 10^11 GB
  const std::string message = expect_throws<viscpm::OutOfMemory>([&] { model->generate(r); });
  EXPECT_NE(message.find("painting 1 image of 65536x65536 needs about"), std::string::npos) << message;
  EXPECT_NE(message.find("of memory is available"), std::string::npos) << message;
  r = small_request();
  EXPECT_EQ(model->generate(r).images.size(0), 1);  // and the model keeps painting
}

TEST(DiffusionPaint, LoadsBothDirectoryLayouts) {
  auto reference = fixture_model()->generate(small_request(9)).images;
  for (bool hub : {true, false}) {
    SCOPED_TRACE(hub ? "hub layout" : "flat layout");
    TempDir dir;
    make_model_dir(dir.path, hub);
    const PaintModelPaths found = PaintModelPaths::from_directory(dir.path);
    EXPECT_EQ(found.checkpoint, dir.path / "viscpm_paint.pt");
    EXPECT_EQ(found.vae_weights.filename(), "diffusion_pytorch_model.safetensors");
    PaintModelOptions options;
    options.llm_dtype = at::kFloat;
    auto model = PaintModel::load(dir.path, options);
    EXPECT_EQ(model->default_image_size(), 64);
    EXPECT_TRUE(same_bytes(model->generate(small_request(9)).images, reference));
  }
}

TEST(DiffusionPaint, HalfPrecisionLanguageModelStaysClose) {
  PaintModelOptions options;
  options.llm_dtype = at::kHalf;
  auto half = PaintModel::load(fixture_paths(), options);
  EXPECT_EQ(half->llm_dtype(), at::kHalf);
  EXPECT_EQ(half->diffusion_dtype(), at::kFloat);
  const PaintConditioning h = half->encode_prompt("a cat");
  const PaintConditioning f = fixture_model()->encode_prompt("a cat");
  EXPECT_EQ(h.cond_hidden_states.scalar_type(), at::kHalf);
  EXPECT_EQ(h.cond_embeddings.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(h.cond_hidden_states.to(at::kFloat), f.cond_hidden_states, 0.05, 0.05));
  EXPECT_EQ(half->generate(small_request()).images.sizes(), at::IntArrayRef({1, 64, 64, 3}));
}

TEST(DiffusionPaint, MissingOrMismatchedFilesAreTyped) {
  TempDir dir;
  expect_throws<NotFound>([&] { PaintModel::load(dir.path / "absent"); });
  EXPECT_NE(expect_throws<NotFound>([&] { PaintModel::load(dir.path); }).find("checkpoint"), std::string::npos);

  make_model_dir(dir.path, true);
  const fs::path vae = dir.path / "stabilityai" / "stable-diffusion-2-1-base" / "vae" / "diffusion_pytorch_model.safetensors";
  fs::remove(vae);
  EXPECT_NE(expect_throws<NotFound>([&] { PaintModel::load(dir.path); }).find("VAE weights"), std::string::npos);
  link_file(fixture_paths().vae_weights, vae);

  fs::remove(dir.path / "bee.txt");
  EXPECT_NE(expect_throws<NotFound>([&] { PaintModel::load(dir.path); }).find("vocabulary"), std::string::npos);
  link_file(fixture_paths().vocabulary, dir.path / "bee.txt");

  link_file(fixture_paths().checkpoint, dir.path / "pytorch_model.bin");
  EXPECT_NE(expect_throws<InvalidArgument>([&] { PaintModel::load(dir.path); }).find("several checkpoints"),
            std::string::npos);
  fs::remove(dir.path / "pytorch_model.bin");

  // Explicit paths: a file that is not there, a vocabulary of the wrong size, a UNet whose
  // cross-attention width does not fit the trans block.
  PaintModelPaths paths = fixture_paths();
  paths.scheduler_config = dir.path / "nope.json";
  expect_throws<NotFound>([&] { PaintModel::load(paths); });

  paths = fixture_paths();
  const fs::path small_vocab = dir.path / "small_bee.txt";
  {
    std::ofstream out(small_vocab);
    for (const char* w : {"<pad>", "<unk>", "<mask>", "<sep>", "</n>", "</_>", "<s>", "</s>", "<root>", "<ans>", "a"})
      out << w << "\n";
  }
  paths.vocabulary = small_vocab;
  EXPECT_NE(expect_throws<FormatError>([&] { PaintModel::load(paths); }).find("vocab_size"), std::string::npos);

  paths = fixture_paths();
  nlohmann::json unet;
  {
    std::ifstream in(paths.unet_config);
    unet = nlohmann::json::parse(in);
  }
  unet["cross_attention_dim"] = unet["cross_attention_dim"].get<int64_t>() * 2;
  paths.unet_config = dir.path / "unet_wide.json";
  std::ofstream(paths.unet_config) << unet.dump();
  EXPECT_NE(expect_throws<FormatError>([&] { PaintModel::load(paths); }).find("trans_block.w_out_res.weight"),
            std::string::npos);

  PaintModelOptions options;
  options.diffusion_dtype = at::kInt;
  expect_throws<InvalidArgument>([&] { PaintModel::load(fixture_paths(), options); });
}

TEST(DiffusionPaint, DemoModelRoundTrip) {
  TempDir dir;
  const PaintModelPaths written = write_demo_paint_model(dir.path);
  // Real formats and layout: found as a model directory, llm.* stored float16, the rest float32,
  // and a VAE file holding the encoder keys too.
  const PaintModelPaths found = PaintModelPaths::from_directory(dir.path);
  EXPECT_EQ(found.checkpoint, written.checkpoint);
  EXPECT_EQ(found.vae_weights, written.vae_weights);
  {
    auto source = io::TensorSource::open(written.checkpoint);
    EXPECT_EQ(source->format(), io::SourceFormat::kTorchZip);
    EXPECT_EQ(source->entries().front().name, "trans_block.w_out_res.weight");
    EXPECT_EQ(source->at("llm.input_embedding.weight").dtype, at::kHalf);
    EXPECT_EQ(source->at("unet.conv_in.weight").dtype, at::kFloat);
    auto vae = io::TensorSource::open(written.vae_weights);
    EXPECT_EQ(vae->format(), io::SourceFormat::kSafetensors);
    EXPECT_NE(vae->find("encoder.conv_in.weight"), nullptr);
    EXPECT_NE(vae->find("quant_conv.weight"), nullptr);
    EXPECT_NE(vae->find("decoder.mid_block.attentions.0.query.weight"), nullptr);
  }

  auto model = PaintModel::load(dir.path);
  EXPECT_EQ(model->llm_dtype(), at::kFloat);  // "half": true runs float32 on the CPU
  PaintRequest r;
  r.prompt = "一只猫 sitting on the sofa";
  r.num_inference_steps = 4;
  r.seed = 1;
  const PaintResult out = model->generate(r);
  ASSERT_EQ(out.images.sizes(), at::IntArrayRef({1, 64, 64, 3}));
  EXPECT_GT(out.images.max().item<int>() - out.images.min().item<int>(), 0);

  // Deterministic for a seed: a second demo folder paints the same bytes.
  TempDir again;
  write_demo_paint_model(again.path);
  EXPECT_TRUE(same_bytes(PaintModel::load(again.path)->generate(r).images, out.images));
}

// An over-long prompt (or negative prompt) is refused before any tensor is allocated.
TEST(DiffusionPaint, OverLongPromptsAreRefusedWithTheLimit) {
  auto model = fixture_model();
  PaintRequest r = small_request();
  r.prompt = std::string(40000, 'a') + " cat";
  const std::string message = expect_throws<InvalidArgument>([&] { model->generate(r); });
  EXPECT_NE(message.find("too long"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(PaintModel::kMaxPromptTokens)), std::string::npos) << message;
  r.prompt = "a cat";
  r.negative_prompt = std::string(20000, 'b') + " " + std::string(20000, 'c');
  expect_throws<InvalidArgument>([&] { model->generate(r); });
  r.negative_prompt = "";
  EXPECT_EQ(model->generate(r).images.size(0), 1);  // still painting
}
