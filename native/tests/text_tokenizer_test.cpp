// CPM-Bee tokenizer: golden case, the worked examples of tokenizer.md §6, errors and
// their positions, invalid UTF-8, vocabulary loading, concurrency.
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "test_support.h"
#include "text/tokenizer.h"

namespace {

using viscpm::text::ExtTable;
using viscpm::text::IdTextTable;
using viscpm::text::Piece;
using viscpm::text::TextError;
using viscpm::text::Tokenizer;

const Tokenizer& bee() {
  static const Tokenizer t = Tokenizer::from_file(viscpm::testing::fixtures_dir() / "vocab" / "bee.txt");
  return t;
}

std::vector<std::string> pieces_of(const std::string& s) {
  std::vector<std::string> out;
  for (const auto& p : bee().tokenize(s)) out.push_back(p.text);
  return out;
}

std::vector<std::pair<int32_t, std::string>> table_of(const std::string& s) {
  return bee().encode(s).ext_table.items();
}

TextError::Reason reason_of(const std::string& s) {
  try {
    bee().encode(s);
  } catch (const TextError& e) {
    return e.reason();
  }
  ADD_FAILURE() << "no error for '" << s << "'";
  return TextError::Reason::kInvalidData;
}

TEST(TextTokenizer, GoldenCasePasses) { viscpm::testing::expect_kind_passes("tokenizer"); }

TEST(TextTokenizer, VocabularyFacts) {
  const Tokenizer& t = bee();
  EXPECT_EQ(t.vocab_size(), 86583);
  EXPECT_EQ(t.max_word_len(), 32);
  EXPECT_EQ(t.unk_id(), 1);
  EXPECT_EQ(t.bos_id(), 6);
  EXPECT_EQ(t.eos_id(), 7);
  EXPECT_EQ(t.ans_id(), 9);
  EXPECT_EQ(t.word(4), "\n");
  EXPECT_EQ(t.word(5), " ");
  EXPECT_EQ(t.word_id("<eod>"), 65756);
  EXPECT_FALSE(t.word_id("</n>").has_value());
  EXPECT_TRUE(t.is_special_word("<ans>"));
  EXPECT_FALSE(t.is_special_word("<"));
  EXPECT_THROW(t.word(86583), viscpm::InvalidArgument);
  EXPECT_THROW(t.word(-1), viscpm::InvalidArgument);
}

// tokenizer.md §6, verified against the reference.
TEST(TextTokenizer, WorkedExamples) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(bee().encode("你好，世界！").ids, (V{10273, 246, 8662, 245}));
  EXPECT_EQ(bee().encode("Hello world, this is a test.").ids, (V{69652, 37791, 22, 36382, 68606, 71677, 61215, 24}));
  EXPECT_EQ(bee().encode("这是一只cat在sofa上。").ids, (V{28402, 7689, 32726, 639, 7521, 7210, 287, 237}));
  EXPECT_EQ(bee().encode("The year 2023 had 365 days; 3.14159").ids,
            (V{7025, 49473, 34581, 31, 75946, 46859, 63854, 39, 38907, 6753, 6914, 6940}));
  EXPECT_EQ(bee().encode("1234567890").ids, (V{6817, 6918, 6951, 6978, 28}));
  EXPECT_EQ(bee().encode("价格是12.5元").ids, (V{9941, 1730, 6813, 6757, 331}));
  EXPECT_EQ(bee().encode("a  b\n\tc").ids, (V{78, 5, 42473, 4, 86583, 80}));
  EXPECT_EQ(table_of("a  b\n\tc"), (std::vector<std::pair<int32_t, std::string>>{{86583, "\t"}}));
  EXPECT_EQ(bee().encode("I ❤️ 😀😀 emoji 😀!").ids, (V{53, 5, 86583, 5, 86584, 85032, 5, 86585, 11}));
  EXPECT_EQ(table_of("I ❤️ 😀😀 emoji 😀!"),
            (std::vector<std::pair<int32_t, std::string>>{{86583, "❤️"}, {86584, "😀😀"}, {86585, "😀"}}));
  EXPECT_EQ(bee().encode("a<<b and 1 <<= 2").ids, (V{78, 40, 79, 47750, 75503, 38618, 67560}));
  EXPECT_EQ(bee().encode("User: 图中有什么？\nAI: 一只猫。\n").ids,
            (V{36986, 38, 5, 14091, 641, 9785, 249, 4, 56389, 38, 5, 7689, 2618, 237, 4}));
  EXPECT_EQ(bee().encode("中文English混合123abc").ids, (V{8922, 34374, 22197, 6817, 80285}));
  EXPECT_EQ(bee().encode("ÀÉÎõü naïve café").ids, (V{86583, 123, 36043, 86584, 7575, 69572, 86585}));
  EXPECT_EQ(table_of("ÀÉÎõü naïve café"),
            (std::vector<std::pair<int32_t, std::string>>{{86583, "ÀÉÎõ"}, {86584, "ï"}, {86585, "é"}}));
  EXPECT_EQ(bee().encode("\u00a0\u3000").ids, (V{86583}));
  EXPECT_EQ(bee().encode("<ans>").ids, (V{9}));
  EXPECT_EQ(bee().encode("<unk><unk>").ids, (V{1, 1}));
  EXPECT_EQ(bee().encode("x<foo>y").ids, (V{101, 86583, 102}));
  EXPECT_EQ(bee().encode("<ans_1>").ids, (V{86583}));
  EXPECT_EQ(bee().encode("<<<<").ids, (V{40, 40}));
  EXPECT_EQ(bee().encode("<<>").ids, (V{40, 42}));
  EXPECT_EQ(pieces_of("这是一只cat在sofa上。"), (std::vector<std::string>{"这是", "一只", "cat", "在", "so", "fa", "上", "。"}));
  EXPECT_EQ(pieces_of("a  b\n"), (std::vector<std::string>{"a", " ", " b", "\n"}));
}

TEST(TextTokenizer, DecodeReescapesAndKeepsSpecials) {
  auto round = [](const std::string& s) {
    auto e = bee().encode(s);
    return bee().decode(e.ids, e.ext_table);
  };
  EXPECT_EQ(round("a<<b and 1 <<= 2"), "a<<b and 1 <<= 2");
  EXPECT_EQ(round("<<<<"), "<<<<");
  EXPECT_EQ(round("<<>"), "<<>");
  EXPECT_EQ(round("<ans> x <s></s>"), "<ans> x <s></s>");
  EXPECT_EQ(round("x<foo>y <ans_1>"), "x<foo>y <ans_1>");
  EXPECT_EQ(bee().decode({40, 78}), "<<a");     // a literal '<' decodes escaped
  EXPECT_EQ(bee().decode({-1, 78, -5}), "a");   // negative ids are skipped (reference)
  EXPECT_THROW(bee().decode({86583}), viscpm::InvalidArgument);
  IdTextTable table;
  table.set(1, "😀");
  table.set(86583, "\t😀");
  EXPECT_EQ(bee().decode({1, 86583, 78}, table), "😀\t😀a");  // table wins over the vocabulary
}

TEST(TextTokenizer, SpecialTokenSyntax) {
  // `<` plus the next character unconditionally, then up to the first '>'.
  EXPECT_EQ(pieces_of("<>>"), (std::vector<std::string>{"<>>"}));
  EXPECT_EQ(pieces_of("a<>b>c"), (std::vector<std::string>{"a", "<>b>", "c"}));
  // Escaped look-alikes never match vocabulary specials.
  for (const auto& p : bee().tokenize("<<s><<ans>")) EXPECT_NE(p.kind, Piece::Kind::kSpecial) << p.text;
  // </n> and </_> are no longer vocabulary strings: they are unlisted specials.
  auto e = bee().encode("</n></_>");
  EXPECT_EQ(e.ids, (std::vector<int32_t>{86583, 86584}));
  EXPECT_EQ(*e.ext_table.text(86583), "</n>");
  // Special tokens may hold any character except '<', including newlines and emoji.
  EXPECT_EQ(pieces_of("<a b\n😀>"), (std::vector<std::string>{"<a b\n😀>"}));
}

TEST(TextTokenizer, ErrorsCarryReferenceMessageAndPosition) {
  struct Case {
    std::string text;
    TextError::Reason reason;
    int64_t position;
    std::string reference;
  };
  const std::vector<Case> cases = {
      {"a<b", TextError::Reason::kUnexpectedEnd, 1, "Unexpected end of text `a<b`"},
      {"x<", TextError::Reason::kUnexpectedEnd, 1, "Unexpected end of text `x<`"},
      {"<", TextError::Reason::kUnexpectedEnd, 0, "Unexpected end of text `<`"},
      {"<<<", TextError::Reason::kUnexpectedEnd, 2, "Unexpected end of text `<<<`"},
      {"😀<ans", TextError::Reason::kUnexpectedEnd, 1, "Unexpected end of text `😀<ans`"},
      {"</n", TextError::Reason::kUnexpectedEnd, 0, "Unexpected end of text `</n`"},
      {"<a<b>", TextError::Reason::kInvalidSpecialToken, 2, "Invalid special token at pos 2"},
      {"你好<ab<c>", TextError::Reason::kInvalidSpecialToken, 5, "Invalid special token at pos 5"},
      // The first '<' inside a special token raises before the end is reached.
      {"<a<", TextError::Reason::kInvalidSpecialToken, 2, "Invalid special token at pos 2"},
  };
  for (const auto& c : cases) {
    try {
      bee().encode(c.text);
      ADD_FAILURE() << "no error for " << c.text;
    } catch (const TextError& e) {
      EXPECT_EQ(e.reason(), c.reason) << c.text;
      EXPECT_EQ(e.position(), c.position) << c.text;
      EXPECT_EQ(e.reference_message(), c.reference) << c.text;
      EXPECT_NE(std::string(e.what()).find("character " + std::to_string(c.position)), std::string::npos) << e.what();
      EXPECT_EQ(e.code(), viscpm::ErrorCode::kInvalidArgument);
    }
    EXPECT_THROW(bee().tokenize(c.text), viscpm::InvalidArgument) << c.text;
  }
}

TEST(TextTokenizer, FailedEncodeLeavesTableUnchanged) {
  ExtTable table = bee().new_ext_table();
  bee().encode("😀", table);
  ASSERT_EQ(table.size(), 1u);
  EXPECT_THROW(bee().encode("🐼 <foo> x<", table), TextError);
  EXPECT_EQ(table.size(), 1u);
  // A shared table continues numbering and reuses ids across calls.
  EXPECT_EQ(bee().encode("🐼😀", table), (std::vector<int32_t>{86584}));
  EXPECT_EQ(bee().encode("😀", table), (std::vector<int32_t>{86583}));
  ExtTable wrong(5);
  EXPECT_THROW(bee().encode("a", wrong), viscpm::InvalidArgument);
}

TEST(TextTokenizer, InvalidUtf8IsRejectedWithByteOffset) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {std::string("ab\xED\xA0\x80", 5), 2},          // lone high surrogate U+D800
      {std::string("\xED\xBF\xBF", 3), 0},            // lone low surrogate U+DFFF
      {std::string("\xED\xA0\xBD\xED\xB8\x80", 6), 0},// CESU-8 surrogate pair
      {std::string("x\xE4\xBD", 3), 1},               // truncated
      {std::string("\xC0\x80", 2), 0},                // overlong NUL (modified UTF-8)
      {std::string("\xE0\x80\xBF", 3), 0},            // overlong
      {std::string("\xF4\x90\x80\x80", 4), 0},        // above U+10FFFF
      {std::string("\xF8\x88\x80\x80\x80", 5), 0},    // 5-byte form
      {std::string("a\x80", 2), 1},                   // stray continuation
      {std::string("\xFF", 1), 0},
      {std::string("<a\xC3>", 4), 2},                 // inside a special token
  };
  for (const auto& [text, offset] : cases) {
    try {
      bee().encode(text);
      ADD_FAILURE() << "accepted invalid UTF-8 at " << offset;
    } catch (const TextError& e) {
      EXPECT_EQ(e.reason(), TextError::Reason::kInvalidUtf8);
      EXPECT_EQ(e.position(), offset) << e.what();
      EXPECT_NE(std::string(e.what()).find("byte " + std::to_string(offset)), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(reason_of(std::string("\xED\xA0\x80", 3)), TextError::Reason::kInvalidUtf8);
  // Valid edge code points are accepted (as unknown runs).
  auto e = bee().encode(std::string("\x00\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xED\x9F\xBF", 11));
  EXPECT_EQ(e.ids, (std::vector<int32_t>{86583}));
}

TEST(TextTokenizer, EmptyAndWhitespace) {
  EXPECT_TRUE(bee().encode("").ids.empty());
  EXPECT_TRUE(bee().tokenize("").empty());
  EXPECT_EQ(bee().decode({}), "");
  EXPECT_EQ(bee().encode("\n\n").ids, (std::vector<int32_t>{4, 4}));
  EXPECT_EQ(bee().encode("\r\n").ids.size(), 2u);  // \r is unknown, \n is id 4
}

TEST(TextTokenizer, EscapeUnescape) {
  EXPECT_EQ(Tokenizer::escape("a<b<<c"), "a<<b<<<<c");
  EXPECT_EQ(Tokenizer::unescape("a<<b<<<<c"), "a<b<<c");
  EXPECT_EQ(Tokenizer::unescape("<<<"), "<<");  // Python str.replace: non-overlapping
}

TEST(TextTokenizer, LoadsSmallVocabulariesAndRejectsBadOnes) {
  // Universal newlines as Python text mode; empty lines skipped.
  auto t = Tokenizer::from_text("<pad>\r\n<unk>\r\n\n<s>\r</s>\n</n>\n</_>\nab\na\nb\n<ans>");
  EXPECT_EQ(t.vocab_size(), 10);
  EXPECT_EQ(t.word(4), "\n");
  EXPECT_EQ(t.encode("abab a\nc").ids, (std::vector<int32_t>{6, 6, 5, 7, 4, 10}));
  EXPECT_EQ(t.max_word_len(), 5);
  EXPECT_THROW(Tokenizer::from_text("<unk>\n<s>\n</s>\n</_>\n"), viscpm::FormatError);        // no </n>
  EXPECT_THROW(Tokenizer::from_text("<unk>\n<s>\n</s>\n</n>\n</_>\na\na"), viscpm::FormatError);  // duplicate
  EXPECT_THROW(Tokenizer::from_text("<unk>\n<s>\n</s>\n</n>\n</_>\n \n"), viscpm::FormatError);   // " " twice
  EXPECT_THROW(Tokenizer::from_text("<s>\n</s>\n</n>\n</_>\n"), viscpm::FormatError);         // no <unk>
  EXPECT_THROW(Tokenizer::from_text(std::string("<unk>\n<s>\n</s>\n</n>\n</_>\n\xFF", 26)), viscpm::FormatError);
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/bee.txt"), viscpm::NotFound);
}

TEST(TextTokenizer, ConcurrentUseGivesIdenticalResults) {
  const std::vector<std::string> texts = {"你好，世界！", "I ❤️ 😀😀 emoji 😀!", "x<foo>y <ans_1> <<", "ÀÉÎõü naïve café"};
  std::vector<std::vector<int32_t>> expected;
  for (const auto& s : texts) expected.push_back(bee().encode(s).ids);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::size_t k = (i + t) % texts.size();
        if (bee().encode(texts[k]).ids != expected[k]) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TextTokenizer, LongTextIsFast) {
  std::string text;
  while (text.size() < (4u << 20)) text += "今天天气真不错，我们去公园散步吧。The quick brown fox 😀 jumps over 1234567890 <<x> ";
  const auto start = std::chrono::steady_clock::now();
  auto e = bee().encode(text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(e.ids.size(), 500000u);
  EXPECT_EQ(bee().decode(e.ids, e.ext_table), text);
  EXPECT_LT(seconds, 5.0) << "4 MiB took " << seconds << " s";
  // A huge unterminated input keeps the reference message whole but what() short.
  try {
    bee().encode(text + "<");
    ADD_FAILURE();
  } catch (const TextError& err) {
    EXPECT_EQ(err.reference_message().size(), text.size() + 1 + 25);
    EXPECT_LT(std::string(err.what()).size(), 600u);
  }
}

}  // namespace
