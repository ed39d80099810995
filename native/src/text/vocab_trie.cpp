#include "text/vocab_trie.h"

#include <algorithm>
#include <map>

namespace viscpm::text {

VocabTrie::VocabTrie(const std::vector<std::pair<std::string, int32_t>>& words) {
  // Build with ordered child maps, then flatten into sorted edge arrays.
  std::vector<std::map<unsigned char, int32_t>> children(1);
  std::vector<int32_t> token(1, -1);
  for (const auto& [word, id] : words) {
    int32_t node = 0;
    for (unsigned char byte : word) {
      auto it = children[node].find(byte);
      if (it == children[node].end()) {
        const auto next = static_cast<int32_t>(children.size());
        children[node].emplace(byte, next);
        children.emplace_back();
        token.push_back(-1);
        node = next;
      } else {
        node = it->second;
      }
    }
    token[node] = id;
  }
  std::fill(std::begin(root_), std::end(root_), -1);
  for (const auto& [byte, next] : children[0]) root_[byte] = next;
  token_ = std::move(token);
  edge_begin_.assign(children.size() + 1, 0);
  for (std::size_t node = 0; node < children.size(); ++node) {
    edge_begin_[node] = static_cast<uint32_t>(edge_byte_.size());
    if (node == 0) continue;  // the root uses the direct table
    for (const auto& [byte, next] : children[node]) {
      edge_byte_.push_back(byte);
      edge_child_.push_back(next);
    }
  }
  edge_begin_[children.size()] = static_cast<uint32_t>(edge_byte_.size());
}

}  // namespace viscpm::text
