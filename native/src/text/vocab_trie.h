// Byte trie over the UTF-8 spelling of the vocabulary words, for greedy longest-match.
// A match found on UTF-8 bytes is the same as one found on code points (the words are
// valid UTF-8, so every word end is a code-point boundary), and the longest word bounds
// the walk, which is the reference's max_word_len window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace viscpm::text {

class VocabTrie {
 public:
  struct Match {
    std::size_t bytes = 0;  // 0: no word is a prefix
    int32_t id = -1;
  };

  VocabTrie() = default;
  explicit VocabTrie(const std::vector<std::pair<std::string, int32_t>>& words);

  // Longest word that is a prefix of [p, p + n).
  Match longest_prefix(const char* p, std::size_t n) const {
    Match best;
    int32_t node = 0;
    for (std::size_t i = 0; i < n; ++i) {
      node = child(node, static_cast<unsigned char>(p[i]));
      if (node < 0) break;
      if (token_[node] >= 0) best = Match{i + 1, token_[node]};
    }
    return best;
  }

 private:
  int32_t child(int32_t node, unsigned char byte) const {
    if (node == 0) return root_[byte];
    const uint32_t begin = edge_begin_[node], end = edge_begin_[node + 1];
    for (uint32_t e = begin; e < end; ++e) {  // fan-out below the root is small
      if (edge_byte_[e] == byte) return edge_child_[e];
      if (edge_byte_[e] > byte) break;
    }
    return -1;
  }

  int32_t root_[256];
  std::vector<int32_t> token_;       // per node: word id ending here, -1 if none
  std::vector<uint32_t> edge_begin_; // per node + 1: its edges, sorted by byte
  std::vector<unsigned char> edge_byte_;
  std::vector<int32_t> edge_child_;
};

}  // namespace viscpm::text
