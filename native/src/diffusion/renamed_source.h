// A view of a checkpoint under other key names, so that weight files with another naming
// (original ldm layout, newer diffusers attention names) load strictly through
// io::load_module into modules named after the diffusers 0.15 keys.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "io/tensor_source.h"

namespace viscpm::diffusion {

struct RenamedKey {
  std::string name;
  // 1x1-conv weights [O, I, 1, 1] stored for what is a Linear [O, I] here.
  bool squeeze_trailing_unit_dims = false;
};

// `rename` maps a key of `base` to its new name, or nullopt to hide the key. Two keys
// mapping to one name is a FormatError (e.g. a file holding both naming generations).
// `base` must outlive this view.
class RenamedTensorSource : public io::TensorSource {
 public:
  using Rename = std::function<std::optional<RenamedKey>(const std::string& key)>;
  RenamedTensorSource(const io::TensorSource& base, const Rename& rename);

  io::SourceFormat format() const override { return base_.format(); }
  std::string container_type() const override { return base_.container_type(); }
  using io::TensorSource::read;
  at::Tensor read(const io::TensorEntry& entry, std::optional<at::ScalarType> dtype = std::nullopt,
                  at::Device device = at::kCPU) const override;
  void read_into(const io::TensorEntry& entry, at::Tensor& target) const override;

 private:
  const io::TensorSource& base_;
  const io::TensorEntry& original(const io::TensorEntry& entry) const;
  std::unordered_map<std::string, const io::TensorEntry*> original_;  // new name -> base entry
};

bool starts_with(const std::string& s, const std::string& prefix);

}  // namespace viscpm::diffusion
