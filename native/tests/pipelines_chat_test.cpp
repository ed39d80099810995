// Chat turns end to end on the demo model (tiny, random, written and loaded back through
// the real file formats): history, vision-state reuse, escaping, limits, streaming,
// cancellation from another thread, decoding modes, model-directory errors.
#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "pipelines/chat/chat_model.h"
#include "testkit/demo/demo_chat.h"
#include "io/tensor_source.h"

namespace viscpm::chat {
using namespace viscpm::decoding;
using namespace viscpm::testkit;
namespace {

namespace fs = std::filesystem;

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("viscpm_generate_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

class GenerateChat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(scratch_dir("demo"));
    write_demo_chat_model(*dir_);
    model_ = new std::shared_ptr<ChatModel>(ChatModel::load(*dir_));
    pixels_ = new std::vector<uint8_t>(demo_image_rgb(64, 48));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete pixels_;
    fs::remove_all(dir_->parent_path());
    delete dir_;
  }
  static vision::ImageView image() {
    return vision::Image::wrap_packed(pixels_->data(), pixels_->size(), 64, 48, vision::PixelFormat::kRGB).view();
  }
  static GenerationConfig beam(int64_t max_length = 10) {
    GenerationConfig c;
    c.max_length = max_length;
    return c;
  }
  static ChatModel& model() { return **model_; }

  static fs::path* dir_;
  static std::shared_ptr<ChatModel>* model_;
  static std::vector<uint8_t>* pixels_;
};
fs::path* GenerateChat::dir_ = nullptr;
std::shared_ptr<ChatModel>* GenerateChat::model_ = nullptr;
std::vector<uint8_t>* GenerateChat::pixels_ = nullptr;

TEST_F(GenerateChat, DirectoryLayoutAndCheckpointKeys) {
  const auto paths = ChatModelPaths::from_directory(*dir_);
  EXPECT_EQ(paths.checkpoint.filename(), "viscpm_chat.pt");
  EXPECT_EQ(paths.vocabulary, *dir_ / "vocab" / "bee.txt");
  const auto source = io::TensorSource::open(paths.checkpoint);
  const auto& entries = source->entries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.front().name, "query");
  EXPECT_EQ(entries.back().name, "mapping.2.bias");
  EXPECT_NE(source->find("llm.input_embedding.weight"), nullptr);
  EXPECT_NE(source->find("vpm.beit3.text_embed.weight"), nullptr);  // unused but present, as released
  EXPECT_EQ(model().query_num(), 8);
  EXPECT_EQ(model().tokenizer().eos_id(), 7);
}

TEST_F(GenerateChat, TurnsKeepTheHistoryAndReuseTheVisionStates) {
  const int64_t calls = model().vision_encoder_calls();
  ChatSession session = model().start_session(image());
  EXPECT_EQ(model().vision_encoder_calls(), calls + 1);
  EXPECT_EQ(session.vision_states().sizes(), (std::vector<int64_t>{8, 32}));

  std::string streamed;
  GenerationCallbacks cb;
  cb.on_text = [&](const std::string& s) { streamed += s; };
  const ChatTurn first = session.ask("图片里有什么？", beam(), cb);
  EXPECT_TRUE(first.encoded_image);
  EXPECT_FALSE(first.token_ids.empty());
  EXPECT_LE(first.token_ids.size(), 12u);  // max_length + 2
  EXPECT_EQ(streamed, first.answer);
  EXPECT_EQ(first.context_after, "User: 图片里有什么？\nAI: " + first.model_answer + "\n");
  EXPECT_EQ(session.context(), first.context_after);

  const ChatTurn second = session.ask("What color is it?", beam());
  EXPECT_FALSE(second.encoded_image);
  EXPECT_EQ(model().vision_encoder_calls(), calls + 1);  // not encoded again
  EXPECT_EQ(second.context_before, first.context_after);
  EXPECT_GT(second.prompt_input_ids.size(), first.prompt_input_ids.size());

  // Reusing the states equals recomputing them; the same history gives the same answer.
  ChatSession again = model().start_session(image(), first.context_after);
  EXPECT_TRUE(at::equal(again.vision_states(), session.vision_states()));
  ChatSession from_states = model().start_session_with_states(session.vision_states().unsqueeze(0), first.context_after);
  const ChatTurn replay = from_states.ask("What color is it?", beam());
  EXPECT_EQ(replay.token_ids, second.token_ids);
  EXPECT_EQ(replay.model_answer, second.model_answer);
}

TEST_F(GenerateChat, LessThanIsEscapedByDefault) {
  ChatSession session = model().start_session(image());
  const ChatTurn turn = session.ask("is a < b?", beam(4));
  EXPECT_NE(turn.context_after.find("User: is a << b?\n"), std::string::npos);
  EXPECT_EQ(turn.answer, text::Tokenizer::unescape(turn.model_answer));

  GenerationConfig raw = beam(4);
  raw.escape_text = false;  // the reference's behaviour: '<' starts a special token
  ChatSession other = model().start_session(image());
  EXPECT_THROW(other.ask("is a < b?", raw), InvalidArgument);
  EXPECT_EQ(other.context(), "");
}

TEST_F(GenerateChat, OverLongPromptIsRejected) {
  ChatSession session = model().start_session(image());
  std::string question;
  for (int i = 0; i < 3100; ++i) question += "a";  // ~3100 tokens: more than 2998 fit
  try {
    session.ask(question, beam(2));
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("too long"), std::string::npos) << e.what();
  }
  GenerationConfig tight = beam(2);
  tight.max_input_length = 30;  // the image placeholders alone need more
  EXPECT_THROW(session.ask("hi", tight), InvalidArgument);
  EXPECT_EQ(session.context(), "");
}

TEST_F(GenerateChat, CancelFromAnotherThread) {
  ChatSession session = model().start_session(image());
  std::atomic<bool> cancel{false};
  std::mutex mutex;
  std::condition_variable cv;
  bool reached = false;
  int polls = 0;
  GenerationCallbacks cb;
  cb.cancel = &cancel;
  cb.should_continue = [&] {
    if (++polls == 3) {  // inside the search: wait until the other thread has cancelled
      std::unique_lock<std::mutex> lock(mutex);
      reached = true;
      cv.notify_all();
      cv.wait(lock, [&] { return cancel.load(); });
    }
    return true;
  };
  std::thread canceller([&] {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return reached; });
    cancel = true;
    cv.notify_all();
  });
  EXPECT_THROW(session.ask("图片里有什么？", beam(200), cb), Cancelled);
  canceller.join();
  EXPECT_EQ(session.context(), "");
  EXPECT_FALSE(session.ask("图片里有什么？", beam(3)).token_ids.empty());  // the session still works
}

TEST_F(GenerateChat, GreedyAndSamplingAreDeterministic) {
  ChatSession session = model().start_session(image());
  GenerationConfig greedy;
  greedy.strategy = DecodingStrategy::kGreedy;
  greedy.max_length = 12;
  const ChatTurn a = session.ask("你好", greedy);
  session.set_context("");
  EXPECT_EQ(session.ask("你好", greedy).token_ids, a.token_ids);

  GenerationConfig sampling = greedy;
  sampling.strategy = DecodingStrategy::kSampling;
  sampling.temperature = 1.0;
  sampling.top_p = 0.95;
  sampling.seed = 42;
  session.set_context("");
  std::string streamed;
  GenerationCallbacks cb;
  cb.on_text = [&](const std::string& s) { streamed += s; };
  const ChatTurn s1 = session.ask("你好", sampling, cb);
  EXPECT_EQ(streamed, s1.answer);
  session.set_context("");
  EXPECT_EQ(session.ask("你好", sampling).token_ids, s1.token_ids);
  EXPECT_LE(s1.token_ids.size(), 12u);
}

TEST_F(GenerateChat, SessionsOnSeveralThreadsShareTheModel) {
  const at::Tensor states = model().encode_image(image());
  ChatSession reference = model().start_session_with_states(states);
  const ChatTurn expected = reference.ask("What color is it?", beam(6));
  std::vector<ChatTurn> turns(3);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < turns.size(); ++t) {
    threads.emplace_back([&, t] {
      ChatSession s = (*model_)->start_session_with_states(states);
      turns[t] = s.ask("What color is it?", beam(6));
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& t : turns) EXPECT_EQ(t.token_ids, expected.token_ids);
}

TEST_F(GenerateChat, BadVisionStatesAndConfig) {
  EXPECT_THROW(model().start_session_with_states(at::zeros({7, 32})), InvalidArgument);
  ChatSession session = model().start_session(image());
  GenerationConfig bad = beam();
  bad.beam_size = 0;
  EXPECT_THROW(session.ask("hi", bad), InvalidArgument);
  bad.beam_size = 33;
  EXPECT_THROW(session.ask("hi", bad), InvalidArgument);
}

TEST_F(GenerateChat, AKvCacheThatCannotFitIsRefusedBeforeAllocating) {
  ChatSession session = model().start_session(image());
  GenerationConfig huge = beam();
  huge.max_length = 1000000000;
  try {
    session.ask("hi", huge);
    FAIL() << "a KV cache of 3 x 1e9 positions was allocated";
  } catch (const viscpm::OutOfMemory& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("this answer's KV cache (3 beams x 10000000"), std::string::npos) << m;
    EXPECT_NE(m.find("lower max_length or the beam size"), std::string::npos) << m;
  }
  GenerationConfig fine = beam();
  fine.max_length = 4;
  EXPECT_FALSE(session.ask("hi", fine).token_ids.empty());  // the session still answers
}

// Copies the demo model without `skip` (a path relative to the model directory).
fs::path copy_without(const fs::path& from, const std::string& name, const std::vector<fs::path>& skip) {
  fs::path to = scratch_dir(name);
  for (const auto& entry : fs::recursive_directory_iterator(from)) {
    const fs::path rel = fs::relative(entry.path(), from);
    if (std::find(skip.begin(), skip.end(), rel) != skip.end()) continue;
    if (entry.is_directory()) fs::create_directories(to / rel);
    else fs::copy_file(entry.path(), to / rel);
  }
  return to;
}

void expect_not_found_naming(const fs::path& dir, const std::string& needle) {
  try {
    ChatModel::load(dir);
    FAIL() << "expected NotFound for " << dir;
  } catch (const NotFound& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(GenerateChat, MissingModelFilesAreNamed) {
  expect_not_found_naming(*dir_ / "no_such_dir", "no_such_dir");
  expect_not_found_naming(copy_without(*dir_, "no_vocab", {"vocab/bee.txt"}), "bee.txt");
  expect_not_found_naming(copy_without(*dir_, "no_config", {"cpm-bee.json"}), "cpm-bee.json");
  expect_not_found_naming(copy_without(*dir_, "no_checkpoint", {"viscpm_chat.pt"}), "viscpm_chat");

  // beit3.json is optional: without it the released BEiT-3 large configuration applies.
  EXPECT_TRUE(ChatModelPaths::from_directory(copy_without(*dir_, "no_beit3", {"beit3.json"})).beit3_config.empty());

  const fs::path two = copy_without(*dir_, "two_checkpoints", {});
  fs::copy_file(two / "viscpm_chat.pt", two / "pytorch_model.bin");
  EXPECT_THROW(ChatModel::load(two), InvalidArgument);

  ChatModelPaths explicit_paths = ChatModelPaths::from_directory(*dir_);
  explicit_paths.vocabulary = *dir_ / "missing.txt";
  try {
    ChatModel::load(explicit_paths);
    FAIL() << "expected NotFound";
  } catch (const NotFound& e) {
    EXPECT_NE(std::string(e.what()).find("missing.txt"), std::string::npos) << e.what();
  }
}

TEST_F(GenerateChat, VocabularySizeMustMatchTheConfig) {
  const fs::path dir = copy_without(*dir_, "short_vocab", {"vocab/bee.txt"});
  std::ofstream(dir / "vocab" / "bee.txt") << "<pad>\n<unk>\n<mask>\n<sep>\n</n>\n</_>\n<s>\n</s>\n<root>\n<ans>\na\n";
  EXPECT_THROW(ChatModel::load(dir), FormatError);
}

TEST(GenerateDemoVocabulary, IsGeneratedAndLoads) {
  const std::string text = demo_vocabulary_text();
  const auto tokenizer = text::Tokenizer::from_text(text, "demo vocabulary");
  EXPECT_EQ(tokenizer.unk_id(), 1);
  EXPECT_EQ(tokenizer.bos_id(), 6);
  EXPECT_EQ(tokenizer.eos_id(), 7);
  EXPECT_EQ(tokenizer.ans_id(), 9);
  EXPECT_LT(tokenizer.vocab_size(), 2000);
  EXPECT_TRUE(tokenizer.word_id("猫").has_value());
  EXPECT_TRUE(tokenizer.word_id(" color").has_value());
}

}  // namespace
}  // namespace viscpm::chat

namespace viscpm::chat {
using namespace viscpm::decoding;
using namespace viscpm::testkit;
namespace {

// The released model runs in fp16; the same code path (rounding in the logits dtype) must
// run with reduced-precision weights too.
TEST_F(GenerateChat, ReducedPrecisionTurnRuns) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    ChatModelOptions options;
    options.dtype = dtype;
    const auto low = ChatModel::load(*dir_, options);
    EXPECT_EQ(low->dtype(), dtype);
    ChatSession session = low->start_session(image());
    EXPECT_EQ(session.vision_states().scalar_type(), dtype);
    const ChatTurn turn = session.ask("图片里有什么？", beam(3));
    EXPECT_FALSE(turn.token_ids.empty());
    EXPECT_TRUE(std::isfinite(turn.score));
  }
}

TEST_F(GenerateChat, AConfigTooLargeForMemoryIsRefusedBeforeAllocating) {
  fs::path dir = copy_without(*dir_, "huge_config", {});
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "cpm-bee.json"));
  config["dim_model"] = 1000000000000LL;
  std::ofstream(dir / "cpm-bee.json") << config.dump();
  try {
    ChatModel::load(dir);
    FAIL() << "a 1e12-wide model was allocated";
  } catch (const viscpm::OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("CPM-Bee's"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cpm-bee.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace viscpm::chat
