// BEiT-3 vision encoder + queries + mapping: golden case, checkpoint variants, reduced
// precision, batching, configuration and bad input.
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "common/error.h"
#include "io/tensor_source.h"
#include "test_support.h"
#include "vision/image.h"
#include "vision/preprocess.h"
#include "vision/vision_encoder.h"

namespace viscpm::vision {
namespace {

namespace fs = std::filesystem;
using viscpm::testing::fixtures_dir;

struct ChatFixture {
  fs::path beit3_config, checkpoint, checkpoint_extra_keys;
  at::Tensor pixel_values, query_outputs, mapped;
};

const ChatFixture& chat_fixture() {
  static const ChatFixture fixture = [] {
    parity::Suite suite(fixtures_dir());
    const auto& chat = suite.manifest().at("models").at("chat");
    ChatFixture f;
    f.beit3_config = suite.resolve(chat.at("beit3_config").get<std::string>());
    f.checkpoint = suite.resolve(chat.at("checkpoint").get<std::string>());
    f.checkpoint_extra_keys = suite.resolve(chat.at("checkpoint_extra_keys").get<std::string>());
    for (const auto& entry : suite.manifest().at("cases")) {
      if (entry.at("kind") != "beit3_forward") continue;
      parity::Case c(suite, entry);
      f.pixel_values = c.input("pixel_values");
      f.query_outputs = c.expected("vision_query_outputs");
      f.mapped = c.expected("mapped");
      break;
    }
    if (!f.pixel_values.defined()) throw std::runtime_error("no beit3_forward case in the fixtures");
    return f;
  }();
  return fixture;
}

VisionEncoder load(const fs::path& checkpoint, at::ScalarType dtype = at::kFloat) {
  VisionEncoderOptions options;
  options.dtype = dtype;
  return load_vision_encoder(checkpoint, Beit3Config::load(chat_fixture().beit3_config), options);
}

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("viscpm_beit3_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

TEST(VisionBeit3, GoldenCasesPass) { viscpm::testing::expect_kind_passes("beit3_forward"); }

TEST(VisionBeit3, Float16CheckpointWithExtraKeysGivesTheSameResult) {
  const auto& f = chat_fixture();
  const auto reference = load(f.checkpoint)->forward(f.pixel_values);
  // Stored float16 (values exactly representable) + the unused mim head: ignored, same weights.
  const auto other = load(f.checkpoint_extra_keys)->forward(f.pixel_values);
  EXPECT_TRUE(at::equal(reference, other));
  EXPECT_TRUE(at::allclose(reference, f.mapped, 1e-4, 1e-4));
}

// Reduced-precision parameters on the CPU: checked against the float32 reference with
// bounds of our own (the fixture tolerances are for float32 only).
TEST(VisionBeit3, ReducedPrecisionStaysCloseToFloat32) {
  const auto& f = chat_fixture();
  for (const auto dtype : {at::kHalf, at::kBFloat16}) {
    const auto encoder = load(f.checkpoint, dtype);
    EXPECT_EQ(encoder->dtype(), dtype);
    const auto queries = encoder->encode(f.pixel_values);
    const auto mapped = encoder->map(queries);
    EXPECT_EQ(mapped.scalar_type(), dtype);
    const double bound = dtype == at::kHalf ? 0.02 : 0.15;
    const double q_err = (queries.to(at::kFloat) - f.query_outputs).abs().max().item<double>();
    const double m_err = (mapped.to(at::kFloat) - f.mapped).abs().max().item<double>();
    EXPECT_LT(q_err, bound) << c10::toString(dtype);
    EXPECT_LT(m_err, bound) << c10::toString(dtype);
  }
}

TEST(VisionBeit3, BatchRowsMatchSingleImages) {
  const auto& f = chat_fixture();
  const auto encoder = load(f.checkpoint);
  const auto second = f.pixel_values.flip({3});
  const auto batch = encoder->forward(at::cat({f.pixel_values, second}, 0));
  ASSERT_EQ(batch.sizes(), (at::IntArrayRef{2, 64, encoder->output_dim()}));
  EXPECT_TRUE(at::allclose(batch[0], encoder->forward(f.pixel_values)[0], 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(batch[1], encoder->forward(second)[0], 1e-5, 1e-5));
  EXPECT_FALSE(at::allclose(batch[0], batch[1], 1e-3, 1e-3));
}

TEST(VisionBeit3, EmbedImagesIsPreprocessThenForward) {
  const auto& f = chat_fixture();
  const auto encoder = load(f.checkpoint);
  const auto image = Image::read_file(fixtures_dir() / "cases/image_preprocess/image.png");
  const auto pixels = preprocess_image(image.view(), encoder->preprocess_config()).unsqueeze(0);
  EXPECT_TRUE(at::equal(encoder->embed_images({image.view()}), encoder->forward(pixels)));
  EXPECT_THROW(encoder->embed_images({}), InvalidArgument);
}

TEST(VisionBeit3, RejectsBadPixelValues) {
  const auto& f = chat_fixture();
  const auto encoder = load(f.checkpoint);
  EXPECT_THROW(encoder->encode(at::zeros({3, 224, 224})), InvalidArgument);
  EXPECT_THROW(encoder->encode(at::zeros({1, 3, 200, 224})), InvalidArgument);
  EXPECT_THROW(encoder->encode(at::zeros({1, 4, 224, 224})), InvalidArgument);
  EXPECT_THROW(encoder->encode(at::zeros({0, 3, 224, 224})), InvalidArgument);
  EXPECT_THROW(encoder->encode(at::zeros({1, 3, 224, 224}, at::kByte)), InvalidArgument);
  EXPECT_THROW(encoder->map(at::zeros({1, 64, 7})), InvalidArgument);
}

// A vision-only safetensors file: complete -> same results; missing `query` -> FormatError.
TEST(VisionBeit3, LoadsSafetensorsAndReportsMissingKeys) {
  const auto& f = chat_fixture();
  auto source = io::TensorSource::open(f.checkpoint);
  std::vector<std::pair<std::string, at::Tensor>> vision, without_query;
  for (const auto& entry : source->entries()) {
    if (entry.name.rfind("llm.", 0) == 0) continue;
    vision.emplace_back(entry.name, source->read(entry));
    if (entry.name != "query") without_query.emplace_back(entry.name, source->read(entry));
  }
  const auto dir = temp_dir();
  io::save_safetensors(dir / "vision.safetensors", vision);
  io::save_safetensors(dir / "no_query.safetensors", without_query);
  EXPECT_TRUE(at::equal(load(dir / "vision.safetensors")->forward(f.pixel_values),
                        load(f.checkpoint)->forward(f.pixel_values)));
  try {
    load(dir / "no_query.safetensors");
    ADD_FAILURE() << "expected FormatError for the missing query";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("query"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load(dir / "missing.pt"), NotFound);
  fs::remove_all(dir);
}

TEST(VisionBeit3, LargeConfigFileAndParameterLayout) {
  const auto large = Beit3Config::load(fs::path(VISCPM_SOURCE_DIR) / "models/beit3-large.json");
  EXPECT_EQ(large.to_json(), Beit3Config::large().to_json());
  // Built on the meta device: names and sizes without allocating 2.5 GB.
  VisionEncoder encoder(large, 4096, at::TensorOptions().device(at::kMeta).dtype(at::kHalf));
  int64_t vpm_tensors = 0, vpm_params = 0, mapping_params = 0;
  bool has_last_layer_key = false;
  for (const auto& item : encoder->named_parameters()) {
    const auto& name = item.key();
    if (name.rfind("vpm.", 0) == 0) {
      ++vpm_tensors;
      vpm_params += item.value().numel();
    } else if (name.rfind("mapping.", 0) == 0) {
      mapping_params += item.value().numel();
    } else {
      EXPECT_EQ(name, "query");
      EXPECT_EQ(item.value().sizes(), (at::IntArrayRef{64, 1024}));
    }
    if (name == "vpm.beit3.encoder.layers.23.ffn.B.ffn_layernorm.bias") has_last_layer_key = true;
  }
  EXPECT_TRUE(has_last_layer_key);
  // spec beit3.md §7: 973 vpm tensors / 681,099,264 parameters, less the four unused tensors
  // (text embedding 65,546,240, mim head 8,192x1,024 + 8,192, mask token 1,024).
  EXPECT_EQ(vpm_tensors, 973 - 4);
  EXPECT_EQ(vpm_params, 681099264 - 65546240 - 8396800 - 1024);
  EXPECT_EQ(mapping_params, 20979712);
}

TEST(VisionBeit3, ConfigValidation) {
  auto j = Beit3Config::large().to_json();
  EXPECT_NO_THROW(Beit3Config::from_json(j));
  auto flag = j;
  flag["subln"] = false;
  EXPECT_THROW(Beit3Config::from_json(flag), Unsupported);
  auto activation = j;
  activation["activation_fn"] = "relu";
  EXPECT_THROW(Beit3Config::from_json(activation), Unsupported);
  auto heads = j;
  heads["encoder_attention_heads"] = 7;
  EXPECT_THROW(Beit3Config::from_json(heads), FormatError);
  auto patch = j;
  patch["patch_size"] = 15;
  EXPECT_THROW(Beit3Config::from_json(patch), FormatError);
  auto type = j;
  type["encoder_layers"] = "many";
  EXPECT_THROW(Beit3Config::from_json(type), FormatError);
  EXPECT_THROW(Beit3Config::load("/nonexistent/beit3.json"), NotFound);
}

}  // namespace
}  // namespace viscpm::vision
