#include "text/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/error.h"
#include "text/utf8.h"

namespace viscpm::text {
namespace {

// Error texts quote the input; keep what() readable for huge inputs (the reference
// message keeps the full text).
std::string quote_for_message(std::string_view text) {
  constexpr std::size_t kMaxBytes = 200;
  if (text.size() <= kMaxBytes) return std::string(text);
  std::size_t cut = kMaxBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

[[noreturn]] void throw_unexpected_end(std::string_view text, int64_t open_position) {
  std::string reference = "Unexpected end of text `" + std::string(text) + "`";
  std::string message = "Unexpected end of text `" + quote_for_message(text) + "`: the '<' at character " +
                        std::to_string(open_position) +
                        " starts a special token that is never closed by '>' (write '<<' for a literal '<')";
  throw TextError(TextError::Reason::kUnexpectedEnd, open_position, std::move(reference), message);
}

[[noreturn]] void throw_invalid_special(int64_t position, int64_t open_position) {
  std::string reference = "Invalid special token at pos " + std::to_string(position);
  std::string message = reference + ": '<' at character " + std::to_string(position) +
                        " inside the special token opened at character " + std::to_string(open_position) +
                        " (special tokens look like <name>; write '<<' for a literal '<')";
  throw TextError(TextError::Reason::kInvalidSpecialToken, position, std::move(reference), message);
}

bool looks_special(std::string_view word) { return !word.empty() && word.front() == '<' && word.back() == '>'; }

}  // namespace

Tokenizer Tokenizer::from_file(const std::filesystem::path& vocab_path) {
  std::error_code ec;
  if (!std::filesystem::exists(vocab_path, ec)) throw NotFound("vocabulary file not found: " + vocab_path.string());
  if (std::filesystem::is_directory(vocab_path, ec))
    throw InvalidArgument(vocab_path.string() + " is a directory; pass the vocabulary file itself (e.g. bee.txt)");
  std::ifstream in(vocab_path, std::ios::binary);
  if (!in) throw IoError("cannot open vocabulary file " + vocab_path.string());
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError("cannot read vocabulary file " + vocab_path.string());
  return from_text(contents, vocab_path.string());
}

Tokenizer Tokenizer::from_text(std::string_view contents, const std::string& origin) {
  try {
    validate_utf8(contents, "the vocabulary");
  } catch (const TextError& e) {
    throw FormatError(origin + ": " + e.what());
  }
  Tokenizer t;
  // Python text mode reads with universal newlines: \r\n, \r and \n all end a line;
  // empty lines are skipped; the id is the index among kept lines.
  std::size_t line_number = 0;
  std::size_t i = 0;
  while (i < contents.size()) {
    std::size_t end = i;
    while (end < contents.size() && contents[end] != '\n' && contents[end] != '\r') ++end;
    ++line_number;
    std::string word(contents.substr(i, end - i));
    if (end < contents.size() && contents[end] == '\r' && end + 1 < contents.size() && contents[end + 1] == '\n') ++end;
    i = end + 1;
    if (word.empty()) continue;
    const auto id = static_cast<int32_t>(t.words_.size());
    if (!t.ids_.emplace(word, id).second) {
      throw FormatError(origin + ": duplicate word '" + word + "' on line " + std::to_string(line_number));
    }
    t.words_.push_back(std::move(word));
  }
  // The two whitespace words are stored escaped in the file.
  for (auto [stored, actual] : {std::pair<const char*, const char*>{"</n>", "\n"}, {"</_>", " "}}) {
    auto it = t.ids_.find(stored);
    if (it == t.ids_.end()) throw FormatError(origin + ": the vocabulary has no " + stored + " entry");
    const int32_t id = it->second;
    t.ids_.erase(it);
    if (!t.ids_.emplace(actual, id).second) {
      throw FormatError(origin + ": the vocabulary has both " + stored + " and a literal '" + actual + "' entry");
    }
    t.words_[id] = actual;
  }
  t.is_special_id_.assign(t.words_.size(), false);
  std::vector<std::pair<std::string, int32_t>> plain_words;
  plain_words.reserve(t.words_.size());
  for (std::size_t id = 0; id < t.words_.size(); ++id) {
    const std::string& w = t.words_[id];
    t.max_word_len_ = std::max<int>(t.max_word_len_, static_cast<int>(count_code_points(w)));
    if (looks_special(w)) {
      t.special_ids_.emplace(w, static_cast<int32_t>(id));
      t.is_special_id_[id] = true;
    } else {
      plain_words.emplace_back(w, static_cast<int32_t>(id));
    }
  }
  t.trie_ = VocabTrie(plain_words);
  auto require = [&](const char* word) {
    auto it = t.special_ids_.find(word);
    if (it == t.special_ids_.end()) throw FormatError(origin + ": the vocabulary has no " + word + " entry");
    return it->second;
  };
  t.unk_id_ = require("<unk>");
  t.bos_id_ = require("<s>");
  t.eos_id_ = require("</s>");
  auto ans = t.special_ids_.find("<ans>");
  t.ans_id_ = ans == t.special_ids_.end() ? -1 : ans->second;
  t.pad_id_ = 0;  // the reference pads with id 0 (<pad>) literally
  return t;
}

std::optional<int32_t> Tokenizer::word_id(std::string_view word) const {
  auto it = ids_.find(std::string(word));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::word(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                          std::to_string(vocab_size()) + ")");
  }
  return words_[static_cast<std::size_t>(id)];
}

// Step 1 of tokenizer.md: plain parts (with `<<` unescaped) and <...> special tokens.
// Everything is validated here, before any table is touched.
std::vector<Tokenizer::Part> Tokenizer::split_special(std::string_view text) const {
  validate_utf8(text);
  std::vector<Part> parts;
  std::string plain;
  const std::size_t n = text.size();
  std::size_t i = 0;
  int64_t cp = 0;  // code point index of text[i]
  while (i < n) {
    const char c = text[i];
    if (c != '<') {
      const std::size_t len = utf8_sequence_length(static_cast<unsigned char>(c));
      plain.append(text.data() + i, len);
      i += len;
      ++cp;
      continue;
    }
    if (i + 1 < n && text[i + 1] == '<') {  // `<<`: a literal '<'
      plain.push_back('<');
      i += 2;
      cp += 2;
      continue;
    }
    const int64_t open = cp;
    if (i + 1 >= n) throw_unexpected_end(text, open);
    // '<' plus the next character unconditionally (even '>'), then up to the first '>'.
    std::size_t j = i + 1 + utf8_sequence_length(static_cast<unsigned char>(text[i + 1]));
    cp += 2;
    bool closed = false;
    while (j < n) {
      const char d = text[j];
      if (d == '<') throw_invalid_special(cp, open);
      j += utf8_sequence_length(static_cast<unsigned char>(d));
      ++cp;
      if (d == '>') {
        closed = true;
        break;
      }
    }
    if (!closed) throw_unexpected_end(text, open);
    if (!plain.empty()) parts.push_back(Part{false, std::move(plain)});
    plain.clear();
    parts.push_back(Part{true, std::string(text.substr(i, j - i))});
    i = j;
  }
  if (!plain.empty()) parts.push_back(Part{false, std::move(plain)});
  return parts;
}

// Steps 2-3: greedy longest match on plain parts, merging unknown code points into runs.
// emit(kind, text, vocab_id) with vocab_id -1 for unknown runs and unlisted specials.
template <class Emit>
void Tokenizer::tokenize_parts(const std::vector<Part>& parts, Emit&& emit) const {
  for (const Part& part : parts) {
    if (part.special) {
      auto it = special_ids_.find(part.text);
      emit(Piece::Kind::kSpecial, std::string_view(part.text), it == special_ids_.end() ? -1 : it->second);
      continue;
    }
    const std::string& s = part.text;
    std::size_t p = 0;
    std::size_t unknown_begin = std::string::npos;
    while (p < s.size()) {
      const VocabTrie::Match m = trie_.longest_prefix(s.data() + p, s.size() - p);
      if (m.bytes == 0) {
        if (unknown_begin == std::string::npos) unknown_begin = p;
        p += utf8_sequence_length(static_cast<unsigned char>(s[p]));
        continue;
      }
      if (unknown_begin != std::string::npos) {
        emit(Piece::Kind::kUnknown, std::string_view(s).substr(unknown_begin, p - unknown_begin), -1);
        unknown_begin = std::string::npos;
      }
      emit(Piece::Kind::kWord, std::string_view(s).substr(p, m.bytes), m.id);
      p += m.bytes;
    }
    if (unknown_begin != std::string::npos) {
      emit(Piece::Kind::kUnknown, std::string_view(s).substr(unknown_begin), -1);
    }
  }
}

std::vector<Piece> Tokenizer::tokenize(std::string_view text) const {
  const auto parts = split_special(text);
  std::vector<Piece> pieces;
  tokenize_parts(parts, [&](Piece::Kind kind, std::string_view piece, int32_t id) {
    pieces.push_back(Piece{std::string(piece), kind, id});
  });
  return pieces;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, ExtTable& table) const {
  if (table.first_id() != vocab_size()) {
    throw InvalidArgument("ext table starts at id " + std::to_string(table.first_id()) +
                          ", expected the vocabulary size " + std::to_string(vocab_size()));
  }
  const auto parts = split_special(text);  // throws before the table changes
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 2 + 1);
  tokenize_parts(parts, [&](Piece::Kind, std::string_view piece, int32_t id) {
    ids.push_back(id >= 0 ? id : table.intern(piece));
  });
  return ids;
}

Encoded Tokenizer::encode(std::string_view text) const {
  Encoded out{{}, new_ext_table()};
  out.ids = encode(text, out.ext_table);
  return out;
}

template <class Lookup>
std::string Tokenizer::decode_with(const std::vector<int32_t>& ids, Lookup&& lookup) const {
  std::string out;
  for (int32_t id : ids) {
    if (const std::string* s = lookup(id)) {
      out += *s;
      continue;
    }
    if (id < 0) continue;
    if (id >= vocab_size()) {
      throw InvalidArgument("cannot decode token id " + std::to_string(id) + ": it is not in the vocabulary (size " +
                            std::to_string(vocab_size()) + ") nor in the ext table");
    }
    const std::string& w = words_[static_cast<std::size_t>(id)];
    if (is_special_id_[static_cast<std::size_t>(id)]) {
      out += w;
    } else {
      for (char c : w) {
        out.push_back(c);
        if (c == '<') out.push_back('<');
      }
    }
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  return decode_with(ids, [](int32_t) -> const std::string* { return nullptr; });
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, const ExtTable& table) const {
  return decode_with(ids, [&](int32_t id) { return table.text(id); });
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, const IdTextTable& table) const {
  return decode_with(ids, [&](int32_t id) { return table.find(id); });
}

std::string Tokenizer::escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    out.push_back(c);
    if (c == '<') out.push_back('<');
  }
  return out;
}

std::string Tokenizer::unescape(std::string_view text) {
  // Python str.replace("<<", "<"): non-overlapping, left to right.
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    out.push_back(text[i]);
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '<') ++i;
  }
  return out;
}

}  // namespace viscpm::text
