// The fuzz harness's own pieces: the zip rewriting of the CRC-keeping target, the CRC fix,
// the mutator's determinism and bounds, and that every target's seeds are clean inputs.
#include <gtest/gtest.h>

#include <unistd.h>

#include "fuzz.h"
#include "io/tensor_source.h"
#include "mutator.h"
#include "test_config.h"
#include "zip_edit.h"

namespace {

using viscpm::fuzz::Bytes;

struct FuzzHarness : ::testing::Test {
  viscpm::fuzz::Context context;
  void SetUp() override {
    const char* env = std::getenv("VISCPM_FIXTURES_DIR");
    context.fixtures = env && *env ? env : VISCPM_DEFAULT_FIXTURES_DIR;
    context.source_dir = VISCPM_SOURCE_DIR;
    if (!std::filesystem::exists(context.fixtures / "manifest.json"))
      GTEST_SKIP() << "golden fixtures not found at " << context.fixtures << " (set VISCPM_FIXTURES_DIR)";
    context.scratch = std::filesystem::temp_directory_path() / ("viscpm_fuzz_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(context.scratch);
  }
  void TearDown() override {
    std::error_code ec;
    if (!context.scratch.empty()) std::filesystem::remove_all(context.scratch, ec);
  }
  // Opens the bytes as a checkpoint; "" when every tensor reads, else the error message.
  std::string load(const Bytes& bytes) {
    auto path = context.scratch / "x.pt";
    viscpm::fuzz::write_bytes(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    try {
      auto source = viscpm::io::TensorSource::open(path);
      for (const auto& e : source->entries()) source->read(e);
      return "";
    } catch (const viscpm::Error& e) {
      return e.what();
    }
  }
};

TEST_F(FuzzHarness, SplitAndJoinKeepAnArchiveReadable) {
  Bytes original = viscpm::fuzz::read_bytes(context.fixtures / "models/chat/viscpm_chat_extra_keys.pt");
  std::vector<viscpm::fuzz::ZipEntry> entries;
  ASSERT_TRUE(viscpm::fuzz::split_zip(original, entries));
  ASSERT_GT(entries.size(), 10u);
  Bytes rebuilt = viscpm::fuzz::join_zip(entries);
  EXPECT_EQ(load(rebuilt), "");
  std::vector<viscpm::fuzz::ZipEntry> again;
  ASSERT_TRUE(viscpm::fuzz::split_zip(rebuilt, again));
  ASSERT_EQ(again.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(again[i].name, entries[i].name);
    EXPECT_TRUE(again[i].data == entries[i].data) << entries[i].name;
  }
  EXPECT_FALSE(viscpm::fuzz::split_zip("not a zip at all, not even close", again));
}

TEST_F(FuzzHarness, FixedCrcsLetPickleDamageReachTheUnpickler) {
  Bytes zip = viscpm::fuzz::read_bytes(context.fixtures / "models/chat/viscpm_chat_extra_keys.pt");
  std::vector<viscpm::fuzz::ZipEntry> entries;
  ASSERT_TRUE(viscpm::fuzz::split_zip(zip, entries));
  const auto pickle = std::find_if(entries.begin(), entries.end(), [](const auto& e) {
    return e.name.size() > 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0;
  });
  ASSERT_NE(pickle, entries.end());
  size_t at = zip.find(pickle->data);
  ASSERT_NE(at, Bytes::npos);
  Bytes damaged = zip;
  damaged.replace(at, 2, "\x80\x09");  // pickle protocol 9
  EXPECT_NE(load(damaged).find("CRC"), std::string::npos) << load(damaged).substr(0, 300);
  EXPECT_GT(viscpm::fuzz::fix_zip_crcs(damaged), 10u);
  std::string message = load(damaged);
  EXPECT_EQ(message.find("CRC"), std::string::npos) << message;
  EXPECT_NE(message.find("protocol"), std::string::npos) << message;
  Bytes untouched = zip;
  viscpm::fuzz::fix_zip_crcs(untouched);
  EXPECT_TRUE(untouched == zip) << "fixing the CRCs of an intact archive changed it";
}

TEST(FuzzMutator, IsDeterministicAndBounded) {
  std::vector<Bytes> corpus = {"corpus entry one", std::string(300, 'x')};
  std::vector<Bytes> dictionary = {"<ans>", "IHDR"};
  auto run = [&](uint64_t seed) {
    viscpm::fuzz::Mutator m(seed);
    m.set_corpus(&corpus);
    m.set_dictionary(&dictionary);
    std::vector<Bytes> out;
    Bytes input = "{\"key\": 12345, \"other\": [1, 2, 3]}";
    for (int i = 0; i < 2000; ++i) {
      Bytes b = input;
      m.mutate(b, 64);
      EXPECT_LE(b.size(), 64u);
      out.push_back(b);
    }
    return out;
  };
  auto a = run(7), b = run(7), c = run(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  size_t changed = 0;
  for (const auto& x : a) changed += x != "{\"key\": 12345, \"other\": [1, 2, 3]}";
  EXPECT_GT(changed, 1900u);
}

TEST_F(FuzzHarness, EveryTargetHasCleanSeeds) {
  for (const auto& t : viscpm::fuzz::targets()) {
    t.init(context);
    auto seeds = t.seeds(context);
    EXPECT_GE(seeds.size(), 3u) << t.name;
    for (size_t i = 0; i < seeds.size(); ++i) {
      viscpm::fuzz::reset_outcome();
      EXPECT_NO_THROW(t.fuzz_one(reinterpret_cast<const uint8_t*>(seeds[i].data()), seeds[i].size()))
          << t.name << " seed " << i;
    }
  }
}

}  // namespace
