#include "text/ext_table.h"

namespace viscpm::text {

int32_t ExtTable::intern(std::string_view text) {
  auto it = ids_.find(std::string(text));
  if (it != ids_.end()) return it->second;
  const int32_t id = first_id_ + static_cast<int32_t>(strings_.size());
  strings_.emplace_back(text);
  ids_.emplace(strings_.back(), id);
  return id;
}

int32_t ExtTable::find(std::string_view text) const {
  auto it = ids_.find(std::string(text));
  return it == ids_.end() ? -1 : it->second;
}

const std::string* ExtTable::text(int32_t id) const {
  const int64_t index = static_cast<int64_t>(id) - first_id_;
  if (index < 0 || index >= static_cast<int64_t>(strings_.size())) return nullptr;
  return &strings_[static_cast<std::size_t>(index)];
}

std::vector<std::pair<int32_t, std::string>> ExtTable::items() const {
  std::vector<std::pair<int32_t, std::string>> out;
  out.reserve(strings_.size());
  for (std::size_t i = 0; i < strings_.size(); ++i) out.emplace_back(first_id_ + static_cast<int32_t>(i), strings_[i]);
  return out;
}

void ExtTable::truncate(std::size_t size) {
  while (strings_.size() > size) {
    ids_.erase(strings_.back());
    strings_.pop_back();
  }
}

void IdTextTable::set(int32_t id, std::string text) {
  auto it = index_.find(id);
  if (it != index_.end()) {
    items_[it->second].second = std::move(text);
    return;
  }
  index_.emplace(id, items_.size());
  items_.emplace_back(id, std::move(text));
}

const std::string* IdTextTable::find(int32_t id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

}  // namespace viscpm::text
