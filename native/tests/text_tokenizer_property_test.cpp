// Property test of the tokenizer over 1,000,000+ random strings (fixed seed).
//
// Generated strings mix: vocabulary words, CJK, ASCII with '<' '>' '_', controls,
// emoji, code points of every plane, long runs of one character, and special-token
// look-alikes (<ans, </n, <<<, <ans_1>, <foo>, <>, ...).
//
// Properties, for a random valid string s and t = Tokenizer::escape(s):
//  P1  encode(t) never fails, decode(encode(t)) == t, and the pieces of t concatenate
//      to s (escaping makes every '<' literal, so text round-trips in its escaped form,
//      which is the form decode returns).
//  P2  encode(s) on the raw string either succeeds with decode(encode(s)) == s
//      (specials come back verbatim, literal '<' from "<<" comes back as "<<"), or fails
//      with TextError exactly when, where and how a literal transcription of the
//      reference algorithm (below, on UTF-32) fails: same reason, position, message.
//  P3  for every 8th string, ids and ext table equal those of the transcription (a
//      check of the trie's longest match against the reference's slice loop).
//  P4  s with an ill-formed UTF-8 sequence spliced in (lone surrogate, truncated,
//      overlong, > U+10FFFF, stray continuation, invalid byte) raises TextError
//      kInvalidUtf8 (an InvalidArgument) and never crashes.
#include <atomic>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "test_support.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace {

using viscpm::text::TextError;
using viscpm::text::Tokenizer;

// ---- literal transcription of the reference tokenizer, on code points
struct SlowReference {
  std::unordered_map<std::u32string, int32_t> encoder;
  std::unordered_set<std::u32string> specials;
  std::size_t max_word_len = 0;
  int32_t vocab_size = 0;

  explicit SlowReference(const Tokenizer& t) {
    vocab_size = t.vocab_size();
    for (int32_t id = 0; id < vocab_size; ++id) {
      std::u32string w = viscpm::text::decode_utf8(t.word(id));
      encoder.emplace(w, id);
      if (w.front() == U'<' && w.back() == U'>') specials.insert(w);
      max_word_len = std::max(max_word_len, w.size());
    }
  }

  struct Result {
    bool error = false;
    TextError::Reason reason{};
    int64_t position = -1;
    std::vector<int32_t> ids;
    std::vector<std::u32string> ext;  // in id order
  };

  Result encode(const std::u32string& text) const {
    Result r;
    std::vector<std::u32string> split{U""};
    bool escape = false, special = false;
    int64_t open = -1;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char32_t c = text[i];
      if (special) {
        if (c == U'<') return error(r, TextError::Reason::kInvalidSpecialToken, static_cast<int64_t>(i));
        split.back() += c;
        if (c == U'>') {
          special = false;
          split.emplace_back();
        }
      } else if (c == U'<') {
        if (escape) {
          split.back() += c;
          escape = false;
        } else {
          escape = true;
          open = static_cast<int64_t>(i);
        }
      } else if (escape) {
        special = true;
        escape = false;
        split.push_back(std::u32string(U"<") + c);
      } else {
        split.back() += c;
      }
    }
    if (escape || special) return error(r, TextError::Reason::kUnexpectedEnd, open);
    std::unordered_map<std::u32string, int32_t> ext_rev;
    auto ext_id = [&](const std::u32string& s) {
      auto it = ext_rev.find(s);
      if (it != ext_rev.end()) return it->second;
      const int32_t id = vocab_size + static_cast<int32_t>(r.ext.size());
      ext_rev.emplace(s, id);
      r.ext.push_back(s);
      return id;
    };
    for (std::size_t k = 0; k < split.size(); ++k) {
      const std::u32string& part = split[k];
      if (k & 1) {
        auto it = encoder.find(part);
        r.ids.push_back(it != encoder.end() ? it->second : ext_id(part));
        continue;
      }
      std::size_t st = 0;
      std::u32string unk;
      bool have_unk = false;
      while (st < part.size()) {
        // get_piece: longest slice first, skipping specials; else one character.
        const std::size_t window = std::min(max_word_len, part.size() - st);
        std::u32string piece;
        int32_t id = -1;
        for (std::size_t len = window; len >= 1; --len) {
          std::u32string sub = part.substr(st, len);
          auto it = encoder.find(sub);
          if (it != encoder.end() && !specials.count(sub)) {
            piece = std::move(sub);
            id = it->second;
            break;
          }
        }
        if (id < 0) {
          unk += part[st];
          have_unk = true;
          st += 1;
          continue;
        }
        if (have_unk) {
          r.ids.push_back(ext_id(unk));
          unk.clear();
          have_unk = false;
        }
        r.ids.push_back(id);
        st += piece.size();
      }
      if (have_unk) r.ids.push_back(ext_id(unk));
    }
    return r;
  }

 private:
  static Result error(Result& r, TextError::Reason reason, int64_t position) {
    r.error = true;
    r.reason = reason;
    r.position = position;
    return r;
  }
};

// ---- random strings
class Generator {
 public:
  Generator(uint64_t seed, const Tokenizer& t) : rng_(seed), tokenizer_(t) {}

  std::u32string next() {
    std::u32string s;
    const int chunks = static_cast<int>(pick(0, 12));
    for (int i = 0; i < chunks; ++i) add_chunk(s);
    return s;
  }

  uint64_t pick(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }

 private:
  char32_t any_scalar() {
    for (;;) {
      const auto cp = static_cast<char32_t>(pick(0, 0x10FFFF));
      if (cp < 0xD800 || cp > 0xDFFF) return cp;
    }
  }

  void add_chunk(std::u32string& s) {
    static const char32_t* const lookalikes[] = {
        U"<ans", U"</n", U"</_", U"<<<", U"<<", U"<", U">", U"<ans>", U"<ans_1>", U"<ans_", U"<unk>", U"<s>",
        U"</s>", U"<foo>", U"<>", U"<>>", U"<<>", U"</n>", U"</_>", U"<mask_2>", U"<ans_x>", U"<<ans>", U"_>"};
    switch (pick(0, 11)) {
      case 0:
      case 1: {  // vocabulary words, specials included
        const int n = static_cast<int>(pick(1, 4));
        for (int i = 0; i < n; ++i) {
          s += viscpm::text::decode_utf8(tokenizer_.word(static_cast<int32_t>(pick(0, tokenizer_.vocab_size() - 1))));
        }
        break;
      }
      case 2:  // CJK
        for (int i = static_cast<int>(pick(1, 6)); i > 0; --i) s += static_cast<char32_t>(pick(0x4E00, 0x9FFF));
        break;
      case 3: {  // ASCII, biased to the syntax characters
        static const char32_t syntax[] = {U'<', U'>', U'_', U' ', U'\n', U'\t', U'a', U'1'};
        for (int i = static_cast<int>(pick(1, 8)); i > 0; --i)
          s += pick(0, 3) == 0 ? syntax[pick(0, 7)] : static_cast<char32_t>(pick(0x20, 0x7E));
        break;
      }
      case 4:  // C0 / C1 controls, DEL, NUL
        for (int i = static_cast<int>(pick(1, 3)); i > 0; --i) {
          const uint64_t k = pick(0, 65);
          s += static_cast<char32_t>(k < 32 ? k : k == 32 ? 0x7F : 0x80 + (k - 33));
        }
        break;
      case 5:  // any plane
        for (int i = static_cast<int>(pick(1, 4)); i > 0; --i) s += any_scalar();
        break;
      case 6:  // emoji, with variation selectors / ZWJ
        for (int i = static_cast<int>(pick(1, 3)); i > 0; --i) {
          s += static_cast<char32_t>(pick(0x1F300, 0x1FAFF));
          if (pick(0, 2) == 0) s += pick(0, 1) ? U'\uFE0F' : U'\u200D';
        }
        break;
      case 7: {  // a long run of one character
        const char32_t c = pick(0, 1) ? any_scalar() : static_cast<char32_t>(pick(0x20, 0x7E));
        s.append(pick(8, 120), c);
        break;
      }
      case 8:
      case 9:
        s += lookalikes[pick(0, std::size(lookalikes) - 1)];
        break;
      case 10:  // Latin-1 / accents (mix of known and unknown)
        for (int i = static_cast<int>(pick(1, 5)); i > 0; --i) s += static_cast<char32_t>(pick(0xA0, 0x24F));
        break;
      default:  // whitespace of all kinds
        for (int i = static_cast<int>(pick(1, 4)); i > 0; --i) {
          static const char32_t ws[] = {U' ', U'\n', U'\t', U'\r', U'\u00A0', U'\u3000', U'\u2028', U'\u200B'};
          s += ws[pick(0, 7)];
        }
    }
  }

  std::mt19937_64 rng_;
  const Tokenizer& tokenizer_;
};

std::string to_utf8(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) viscpm::text::append_utf8(out, c);
  return out;
}

// Splices an ill-formed sequence into valid UTF-8 at a code-point boundary.
std::string corrupt(const std::string& valid, Generator& g) {
  static const std::string bad[] = {
      std::string("\xED\xA0\x80", 3), std::string("\xED\xBF\xBF", 3), std::string("\xED\xB0\x80", 3),  // surrogates
      std::string("\xC0\xAF", 2),     std::string("\xC1\xBF", 2),     std::string("\xE0\x9F\xBF", 3),   // overlong
      std::string("\xF0\x8F\xBF\xBF", 4), std::string("\xF4\x90\x80\x80", 4),                           // overlong, > max
      std::string("\x80", 1),         std::string("\xBF", 1),         std::string("\xFE", 1),
      std::string("\xFF", 1),         std::string("\xF5\x80\x80\x80", 4), std::string("\xC3", 1),       // truncated
      std::string("\xE4\xBD", 2),     std::string("\xF0\x9F\x98", 3), std::string("\xE4\x41\x80", 3),
  };
  std::vector<std::size_t> boundaries{0};
  for (std::size_t i = 0; i < valid.size(); ++i)
    if ((static_cast<unsigned char>(valid[i]) & 0xC0) != 0x80 && i > 0) boundaries.push_back(i);
  boundaries.push_back(valid.size());
  const std::size_t at = boundaries[g.pick(0, boundaries.size() - 1)];
  std::string out = valid;
  out.insert(at, bad[g.pick(0, std::size(bad) - 1)]);
  return out;
}

struct Counters {
  std::atomic<int64_t> strings{0}, raw_ok{0}, raw_errors{0}, invalid_utf8{0}, oracle_checked{0}, failures{0};
};

void report(Counters& c, const std::string& what, const std::string& s) {
  if (c.failures++ < 10) ADD_FAILURE() << what << " for " << testing::PrintToString(s);
}

void check_range(const Tokenizer& tok, const SlowReference& ref, uint64_t seed, int64_t count, Counters& c) {
  Generator g(seed, tok);
  for (int64_t n = 0; n < count; ++n) {
    const std::u32string s32 = g.next();
    const std::string s = to_utf8(s32);
    // P1: escaped text always encodes and round-trips.
    const std::string t = Tokenizer::escape(s);
    try {
      auto e = tok.encode(t);
      if (tok.decode(e.ids, e.ext_table) != t) report(c, "P1 decode(encode(escape(s))) != escape(s)", s);
      std::string joined;
      for (const auto& p : tok.tokenize(t)) joined += p.text;
      if (joined != s) report(c, "P1 pieces do not concatenate to s", s);
    } catch (const std::exception& ex) {
      report(c, std::string("P1 escaped text raised ") + ex.what(), s);
    }
    // P2 / P3: raw text.
    const bool with_oracle = n % 8 == 0;
    SlowReference::Result expected;
    bool have_expected = false;
    auto oracle = [&] {
      if (!have_expected) expected = ref.encode(s32), have_expected = true;
      ++c.oracle_checked;
      return expected;
    };
    try {
      auto e = tok.encode(s);
      ++c.raw_ok;
      if (tok.decode(e.ids, e.ext_table) != s) report(c, "P2 decode(encode(s)) != s", s);
      if (with_oracle) {
        const auto r = oracle();
        if (r.error) {
          report(c, "P2 accepted text the reference rejects", s);
        } else {
          std::vector<std::u32string> ext;
          for (const auto& [id, str] : e.ext_table.items()) ext.push_back(viscpm::text::decode_utf8(str));
          if (r.ids != e.ids || r.ext != ext) report(c, "P3 ids / ext table differ from the reference", s);
        }
      }
    } catch (const TextError& ex) {
      ++c.raw_errors;
      const auto r = oracle();  // errors are always cross-checked
      if (!r.error || r.reason != ex.reason() || r.position != ex.position()) {
        report(c, std::string("P2 error differs from the reference: ") + ex.what(), s);
      } else {
        const std::string message = r.reason == TextError::Reason::kUnexpectedEnd
                                        ? "Unexpected end of text `" + s + "`"
                                        : "Invalid special token at pos " + std::to_string(r.position);
        if (ex.reference_message() != message) report(c, "P2 reference message differs", s);
      }
    } catch (const std::exception& ex) {
      report(c, std::string("P2 unexpected exception ") + ex.what(), s);
    }
    // P4: ill-formed UTF-8.
    if (n % 4 == 1) {
      const std::string bad = corrupt(s, g);
      try {
        tok.encode(bad);
        report(c, "P4 accepted ill-formed UTF-8", bad);
      } catch (const TextError& ex) {
        if (ex.reason() == TextError::Reason::kInvalidUtf8) ++c.invalid_utf8;
        else report(c, std::string("P4 wrong reason: ") + ex.what(), bad);
      } catch (const std::exception& ex) {
        report(c, std::string("P4 unexpected exception ") + ex.what(), bad);
      }
    }
    ++c.strings;
  }
}

TEST(TextTokenizerProperty, MillionRandomStrings) {
  const Tokenizer tok = Tokenizer::from_file(viscpm::testing::fixtures_dir() / "vocab" / "bee.txt");
  const SlowReference ref(tok);
  constexpr int64_t kStrings = 1000000;
  // Blocks of strings with their own seeds: the same strings whatever the thread count.
  constexpr int64_t kBlock = 10000;
  const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  Counters c;
  std::atomic<int64_t> next_block{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int64_t b; (b = next_block++) * kBlock < kStrings;)
        check_range(tok, ref, 0x5EEDBEEULL + static_cast<uint64_t>(b), std::min(kBlock, kStrings - b * kBlock), c);
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(c.strings.load(), kStrings);
  EXPECT_EQ(c.failures.load(), 0);
  // The generator must exercise every path substantially.
  EXPECT_GT(c.raw_ok.load(), kStrings / 5);
  EXPECT_GT(c.raw_errors.load(), kStrings / 10);
  EXPECT_GT(c.invalid_utf8.load(), kStrings / 5);
  EXPECT_GT(c.oracle_checked.load(), kStrings / 4);  // every 8th + every rejected one
  std::cout << "strings " << c.strings << " (+" << c.strings << " escaped, +" << c.invalid_utf8
            << " ill-formed), raw accepted " << c.raw_ok << ", raw rejected " << c.raw_errors
            << ", cross-checked with the transcription " << c.oracle_checked << "\n";
}

}  // namespace
