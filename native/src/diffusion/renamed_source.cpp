#include "diffusion/renamed_source.h"

#include "common/error.h"

namespace viscpm::diffusion {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

namespace {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

}  // namespace

RenamedTensorSource::RenamedTensorSource(const io::TensorSource& base, const Rename& rename)
    : io::TensorSource(base.path()), base_(base) {
  for (const auto& entry : base.entries()) {
    auto renamed = rename(entry.name);
    if (!renamed) continue;
    if (original_.count(renamed->name))
      throw FormatError(base.path().string() + ": keys '" + original_.at(renamed->name)->name + "' and '" +
                        entry.name + "' both provide '" + renamed->name + "'");
    io::TensorEntry view = entry;
    view.name = renamed->name;
    if (renamed->squeeze_trailing_unit_dims) {
      while (view.shape.size() > 2 && view.shape.back() == 1) view.shape.pop_back();
      view.strides = contiguous_strides(view.shape);
    }
    original_[view.name] = &entry;
    entries_.push_back(std::move(view));
  }
  index_entries();
}

const io::TensorEntry& RenamedTensorSource::original(const io::TensorEntry& entry) const {
  auto it = original_.find(entry.name);
  if (it == original_.end()) throw FormatError(path_.string() + ": no tensor named '" + entry.name + "'");
  return *it->second;
}

at::Tensor RenamedTensorSource::read(const io::TensorEntry& entry, std::optional<at::ScalarType> dtype,
                                     at::Device device) const {
  return base_.read(original(entry), dtype, device).reshape(entry.shape);
}

void RenamedTensorSource::read_into(const io::TensorEntry& entry, at::Tensor& target) const {
  const io::TensorEntry& from = original(entry);
  if (from.shape == entry.shape) return base_.read_into(from, target);
  at::Tensor view = target.view(from.shape);  // squeezed 1x1-conv weight: same elements
  base_.read_into(from, view);
}

}  // namespace viscpm::diffusion
