// The two id <-> text side tables of CPM-Bee text handling.
//
// ExtTable: strings the vocabulary lacks (unknown-character runs, special tokens such as
// <ans_1>) get "fake" ids first_id, first_id + 1, ... in order of first appearance
// (first_id = vocabulary size). One table is carried across all segments of a request.
//
// IdTextTable: an insertion-ordered id -> text map (a Python dict), used as the decoding
// table of a request (generated id -> original text).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace viscpm::text {

class ExtTable {
 public:
  explicit ExtTable(int32_t first_id = 0) : first_id_(first_id) {}

  int32_t first_id() const { return first_id_; }
  std::size_t size() const { return strings_.size(); }
  bool empty() const { return strings_.empty(); }

  // Id of `text`, adding it when new.
  int32_t intern(std::string_view text);
  // Id of `text` or -1.
  int32_t find(std::string_view text) const;
  // Text of `id`, nullptr when `id` is not in the table.
  const std::string* text(int32_t id) const;
  bool contains(int32_t id) const { return text(id) != nullptr; }
  // Entries as (id, text), in id order.
  std::vector<std::pair<int32_t, std::string>> items() const;
  // Drops entries added after the table had `size` entries (used to undo a failed call).
  void truncate(std::size_t size);

 private:
  int32_t first_id_;
  std::vector<std::string> strings_;
  std::unordered_map<std::string, int32_t> ids_;
};

class IdTextTable {
 public:
  // Sets id -> text; an existing id keeps its position (Python dict assignment).
  void set(int32_t id, std::string text);
  const std::string* find(int32_t id) const;
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::vector<std::pair<int32_t, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<int32_t, std::string>> items_;
  std::unordered_map<int32_t, std::size_t> index_;
};

}  // namespace viscpm::text
