// Bad configs and bad inputs raise the typed errors of common/error.h.
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include "common/error.h"
#include "cpmbee_test_support.h"
#include "test_support.h"

#include <filesystem>
#include <fstream>

using namespace viscpm::cpmbee;
using namespace viscpm::cpmbee::testing;
using nlohmann::json;

namespace {
json valid_json() { return json::parse(R"({"vocab_size": 100, "dim_model": 16, "dim_ff": 32, "num_layers": 2,
  "num_heads": 2, "dim_head": 8, "dropout_p": 0.0, "position_bias_num_buckets": 256,
  "position_bias_num_segment_buckets": 256, "position_bias_max_distance": 2048, "eps": 1e-6, "half": false})"); }
}  // namespace

TEST(CpmBeeConfig, ParsesFixtureAndReleasedConfigs) {
  const auto fixtures = viscpm::testing::fixtures_dir();
  const auto chat = CpmBeeConfig::load(fixtures / "models/chat/cpm-bee.json");
  EXPECT_EQ(chat.vocab_size, 86583);
  EXPECT_FALSE(chat.half);
  const auto released = CpmBeeConfig::load(std::filesystem::path(VISCPM_SOURCE_DIR) / "models/cpm-bee-10b.json");
  EXPECT_EQ(released.to_json(), CpmBeeConfig::cpm_bee_10b().to_json());
  EXPECT_EQ(released.parameter_count(), 9616080896LL);  // cpmbee.md §3
  EXPECT_TRUE(released.half);
  EXPECT_EQ(CpmBeeConfig::from_json(valid_json()).dim_head, 8);
}

TEST(CpmBeeConfig, RejectsBadConfigs) {
  auto expect_format_error = [](json j, const std::string& fragment) {
    try {
      CpmBeeConfig::from_json(j, "test.json");
      ADD_FAILURE() << "accepted: " << j.dump();
    } catch (const viscpm::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  auto j = valid_json();
  j.erase("num_heads");
  expect_format_error(j, "num_heads");
  j = valid_json();
  j["num_layer"] = 3;  // typo
  expect_format_error(j, "num_layer");
  j = valid_json();
  j["dim_model"] = "16";
  expect_format_error(j, "dim_model");
  j = valid_json();
  j["dim_model"] = 15;
  expect_format_error(j, "even");
  j = valid_json();
  j["num_layers"] = 0;
  expect_format_error(j, "num_layers");
  j = valid_json();
  j["position_bias_max_distance"] = 64;
  expect_format_error(j, "max_distance");
  j = valid_json();
  j["half"] = 1;
  expect_format_error(j, "half");
  expect_format_error(json::array(), "object");
  j = valid_json();
  j["mask_modules"] = json::parse("[[false, true], [false, false]]");
  EXPECT_THROW(CpmBeeConfig::from_json(j), viscpm::Unsupported);

  EXPECT_THROW(CpmBeeConfig::load("/nonexistent/cpm-bee.json"), viscpm::NotFound);
  const auto path = std::filesystem::temp_directory_path() / ("cpmbee_bad_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << "{ not json";
  EXPECT_THROW(CpmBeeConfig::load(path), viscpm::FormatError);
  std::filesystem::remove(path);

  CpmBeeConfig c = small_config();
  c.num_heads = -1;
  EXPECT_THROW(c.validate(), viscpm::InvalidArgument);
  EXPECT_THROW(CpmBee{c}, viscpm::InvalidArgument);
  EXPECT_THROW(CpmBee(small_config(), at::kDouble), viscpm::Unsupported);
}

TEST(CpmBeeErrors, BadForwardInputs) {
  const auto config = small_config();
  auto model = random_model(config, 41);
  const auto req = random_request(config, 10, 3, 42);
  auto expect_invalid = [&](CpmBeeInputs in, const std::string& fragment) {
    try {
      model->forward(in);
      ADD_FAILURE() << "accepted (" << fragment << ")";
    } catch (const viscpm::InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  auto in = req.prompt;
  in.input_ids = in.input_ids.clone();
  in.input_ids[0][4] = config.vocab_size;
  expect_invalid(in, "vocabulary");
  in = req.prompt;
  in.input_ids = in.input_ids.to(at::kFloat);
  expect_invalid(in, "integer");
  in = req.prompt;
  in.context = in.context.narrow(1, 0, 9);
  expect_invalid(in, "context");
  in = req.prompt;
  in.segment_ids = at::Tensor();
  expect_invalid(in, "segment_ids");
  in = req.prompt;
  in.segment_rel = in.segment_rel.narrow(1, 0, 4);  // 3 segments need 9 entries
  expect_invalid(in, "segment_rel");
  in = req.prompt;
  in.segment_rel = in.segment_rel.clone().fill_(config.position_bias_num_segment_buckets + 1);
  expect_invalid(in, "relation bucket");
  in = req.prompt;
  in.ext_table_sub = at::zeros({3}, at::kLong);
  expect_invalid(in, "ext table");
  in = req.prompt;
  in.input_ids = in.input_ids.reshape({10});
  expect_invalid(in, "input_ids");
  EXPECT_THROW(model->forward(req.prompt, at::zeros({1, 10, config.dim_model + 1})), viscpm::InvalidArgument);
  EXPECT_THROW(model->embed(at::tensor({config.vocab_size}), at::tensor({0})), viscpm::InvalidArgument);
}

TEST(CpmBeeErrors, BadCacheUse) {
  const auto config = small_config();
  auto model = random_model(config, 43);
  const auto req = random_request(config, 10, 3, 44);
  EXPECT_THROW(model->new_cache(0, 10), viscpm::InvalidArgument);
  EXPECT_THROW(model->new_cache(2, 0), viscpm::InvalidArgument);

  KvCache cache = model->new_cache(3, 12);
  EXPECT_THROW(model->decode_step(chat_step({1, 2, 3}, 0, 2), cache), viscpm::InvalidArgument);  // no prompt
  KvCache small = model->new_cache(3, 8);
  EXPECT_THROW(model->prefill(req.prompt, small), viscpm::InvalidArgument);  // capacity
  CpmBeeInputs two = req.prompt;
  for (auto* t : {&two.input_ids, &two.input_id_subs, &two.positions, &two.context, &two.sample_ids, &two.num_segments,
                  &two.segment_ids, &two.segment_rel_offset, &two.segment_rel})
    *t = t->expand({2, t->size(1)});
  EXPECT_THROW(model->prefill(two, cache), viscpm::InvalidArgument);  // batch 2 vs 3 rows
  KvCache other(small_config(), 3, 12, at::kHalf, at::kCPU);
  EXPECT_THROW(model->prefill(req.prompt, other), viscpm::InvalidArgument);  // not this model's dtype

  model->prefill(req.prompt, cache);
  EXPECT_THROW(model->decode_step(chat_step({1, 2}, 0, 2), cache), viscpm::InvalidArgument);  // 2 tokens, 3 rows
  EXPECT_THROW(model->decode_step(chat_step({1, 2, config.vocab_size}, 0, 2), cache), viscpm::InvalidArgument);
  StepInputs s = chat_step({1, 2, 3}, 0, 2);
  s.positions = at::Tensor();
  EXPECT_THROW(model->decode_step(s, cache), viscpm::InvalidArgument);
  s = chat_step({1, 2, 3}, 0, 50);  // segment 50 addresses beyond the 3x3 relation table
  EXPECT_THROW(model->decode_step(s, cache), viscpm::InvalidArgument);
  EXPECT_EQ(cache.length(), 10);  // failed steps leave the cache as it was

  EXPECT_THROW(cache.reorder(at::tensor({0, 1}, at::kLong)), viscpm::InvalidArgument);
  EXPECT_THROW(cache.reorder(at::tensor({0, 1, 3}, at::kLong)), viscpm::InvalidArgument);
  EXPECT_THROW(cache.reorder(at::tensor({0.0, 1.0, 2.0})), viscpm::InvalidArgument);
  model->decode_step(chat_step({1, 2, 3}, 0, 2), cache);
  model->decode_step(chat_step({1, 2, 3}, 1, 2), cache);
  EXPECT_THROW(model->decode_step(chat_step({1, 2, 3}, 2, 2), cache), viscpm::InvalidArgument);  // full
}
