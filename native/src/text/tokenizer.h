// CPM-Bee tokenizer (spec: tokenizer.md): greedy longest match over bee.txt, escape
// syntax `<<` for a literal '<', `<name>` special tokens, merged unknown-character runs,
// and an ext table of fake ids for strings the vocabulary lacks.
//
// A Tokenizer is immutable after construction; every method is const and safe to call
// from many threads at once. Text is UTF-8 in and out; all positions are code points.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/ext_table.h"
#include "text/text_error.h"
#include "text/vocab_trie.h"

namespace viscpm::text {

struct Piece {
  enum class Kind { kWord, kUnknown, kSpecial };
  std::string text;  // as matched: vocabulary word ("\n", " " for </n>, </_>), unknown run, or <...>
  Kind kind = Kind::kWord;
  int32_t vocab_id = -1;  // vocabulary id of words and of special tokens in the vocabulary
};

struct Encoded {
  std::vector<int32_t> ids;
  ExtTable ext_table;
};

class Tokenizer {
 public:
  // Loads bee.txt. NotFound / IoError when unreadable, FormatError when malformed
  // (invalid UTF-8, duplicate word, missing </n>, </_> or a core special token).
  static Tokenizer from_file(const std::filesystem::path& vocab_path);
  // Same from the file's contents (one word per line); `origin` names it in errors.
  static Tokenizer from_text(std::string_view contents, const std::string& origin = "vocabulary");

  int32_t vocab_size() const { return static_cast<int32_t>(words_.size()); }
  int max_word_len() const { return max_word_len_; }  // in code points
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t ans_id() const { return ans_id_; }

  // Vocabulary id of `word` (after the </n> -> "\n", </_> -> " " renaming), or nullopt.
  std::optional<int32_t> word_id(std::string_view word) const;
  // Vocabulary word of `id` (InvalidArgument when outside [0, vocab_size)).
  const std::string& word(int32_t id) const;
  // True for vocabulary words of the form <...>.
  bool is_special_word(std::string_view word) const { return special_ids_.count(std::string(word)) != 0; }

  // Splits text into pieces. Throws TextError (kInvalidUtf8, kUnexpectedEnd,
  // kInvalidSpecialToken) exactly where the reference raises.
  std::vector<Piece> tokenize(std::string_view text) const;

  // Ids of `text`; unknown runs and special tokens not in the vocabulary get ids from
  // `table` (added when new). On error `table` is left unchanged.
  std::vector<int32_t> encode(std::string_view text, ExtTable& table) const;
  // Same with a fresh table (first id = vocab_size).
  Encoded encode(std::string_view text) const;
  ExtTable new_ext_table() const { return ExtTable(vocab_size()); }

  // Text of `ids`: table entries verbatim, vocabulary specials verbatim, other words
  // escaped (every '<' doubled); negative ids are skipped (as the reference does). An id
  // >= vocab_size missing from the table raises InvalidArgument.
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string decode(const std::vector<int32_t>& ids, const ExtTable& table) const;
  std::string decode(const std::vector<int32_t>& ids, const IdTextTable& table) const;

  static std::string escape(std::string_view text);    // '<' -> '<<'
  static std::string unescape(std::string_view text);  // '<<' -> '<'

 private:
  Tokenizer() = default;
  struct Part {
    bool special;
    std::string text;  // plain: unescaped text; special: the whole <...>
  };
  std::vector<Part> split_special(std::string_view text) const;
  template <class Emit>
  void tokenize_parts(const std::vector<Part>& parts, Emit&& emit) const;
  template <class Lookup>
  std::string decode_with(const std::vector<int32_t>& ids, Lookup&& lookup) const;

  std::vector<std::string> words_;                         // id -> word
  std::unordered_map<std::string, int32_t> ids_;           // word -> id
  std::unordered_map<std::string, int32_t> special_ids_;   // <...> words -> id
  std::vector<bool> is_special_id_;
  VocabTrie trie_;                                         // non-special words
  int max_word_len_ = 0;
  int32_t pad_id_ = 0, unk_id_ = 1, bos_id_ = 6, eos_id_ = 7, ans_id_ = 9;
};

}  // namespace viscpm::text
