// safetensors: 8-byte header length, JSON header, byte buffer. The header is validated as
// strictly as the reference library does (ranges in bounds, no overlap, no holes).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "io/dtypes.h"
#include "io/stored_tensor.h"
#include "io/sources.h"
#include "common/tensor_text.h"

namespace viscpm::io {

namespace {

int64_t non_negative_int(const nlohmann::ordered_json& v, const std::string& what) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
  } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    return v.get<int64_t>();
  }
  throw FormatError(what + " must be a non-negative integer, got " + v.dump().substr(0, 40));
}

class SafetensorsSource final : public TensorSource {
 public:
  SafetensorsSource(std::unique_ptr<FileReader> file, const OpenOptions&)
      : TensorSource(file->path()), file_(std::move(file)) {
    const std::string where = path_.string();
    if (file_->size() < 8) throw FormatError(where + ": too short for a safetensors file");
    std::vector<uint8_t> length_bytes = file_->read_bytes(0, 8);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; ++i) header_len |= uint64_t(length_bytes[i]) << (8 * i);
    if (header_len < 2 || header_len > kMaxSafetensorsHeader || header_len > file_->size() - 8)
      throw FormatError(where + ": safetensors header length " + std::to_string(header_len) +
                        " is impossible for a file of " + std::to_string(file_->size()) + " bytes");
    data_start_ = 8 + header_len;
    uint64_t buffer_size = file_->size() - data_start_;

    // nlohmann stops at a NUL byte as if the input ended: refuse NULs, as JSON does.
    std::vector<uint8_t> text = file_->read_bytes(8, header_len);
    if (std::memchr(text.data(), 0, text.size()) != nullptr)
      throw FormatError(where + ": safetensors header contains a NUL byte (header length wrong?)");
    nlohmann::ordered_json header;
    try {
      header = nlohmann::ordered_json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(where + ": safetensors header is not valid JSON (" + e.what() + ")");
    }
    if (!header.is_object()) throw FormatError(where + ": safetensors header is not a JSON object");

    struct Range {
      uint64_t begin, end;
      size_t entry;
    };
    std::vector<Range> ranges;
    for (const auto& [name, info] : header.items()) {
      if (name == "__metadata__") {
        if (!info.is_object()) throw FormatError(where + ": __metadata__ is not an object");
        for (const auto& [k, v] : info.items())
          if (!v.is_string()) throw FormatError(where + ": __metadata__ value '" + k + "' is not a string");
        continue;
      }
      const std::string what = where + ": tensor '" + name + "'";
      if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
        throw FormatError(what + " needs dtype, shape and data_offsets");
      const auto& dtype = info["dtype"];
      const auto& shape = info["shape"];
      const auto& offsets = info["data_offsets"];
      if (!dtype.is_string()) throw FormatError(what + ": dtype is not a string");
      auto type = dtype_from_safetensors(dtype.get<std::string>());
      if (!type) throw FormatError(what + ": unknown dtype '" + dtype.get<std::string>() + "'");
      if (!shape.is_array()) throw FormatError(what + ": shape is not a list of dimensions");
      if (!offsets.is_array() || offsets.size() != 2) throw FormatError(what + ": data_offsets is not [begin, end]");

      TensorEntry e;
      e.name = name;
      e.dtype = *type;
      for (const auto& dim : shape) e.shape.push_back(non_negative_int(dim, what + " shape"));
      int64_t numel = checked_numel(e.shape, what);
      e.strides.assign(e.shape.size(), 1);
      for (size_t i = e.shape.size(); i-- > 1;) e.strides[i - 1] = e.strides[i] * std::max<int64_t>(e.shape[i], 1);
      e.storage_key = name;
      uint64_t begin = static_cast<uint64_t>(non_negative_int(offsets[0], what + " data_offsets"));
      uint64_t end = static_cast<uint64_t>(non_negative_int(offsets[1], what + " data_offsets"));
      auto nbytes = checked_mul(numel, static_cast<int64_t>(at::elementSize(e.dtype)));
      if (end < begin || end > buffer_size)
        throw FormatError(what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                          "] outside the data buffer of " + std::to_string(buffer_size) + " bytes");
      if (!nbytes || static_cast<uint64_t>(*nbytes) != end - begin)
        throw FormatError(what + ": shape " + shape_string(e.shape) + " of " + python_dtype_name(e.dtype) +
                          " needs " + (nbytes ? std::to_string(*nbytes) : std::string("too many")) +
                          " bytes, data_offsets give " + std::to_string(end - begin));
      ranges.push_back({begin, end, entries_.size()});
      begins_.push_back(begin);
      entries_.push_back(std::move(e));
    }
    // The ranges must tile the buffer exactly: no overlap, no hole, nothing after.
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    uint64_t expected = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      const Range& r = ranges[i];
      if (r.begin != expected) {
        std::string previous = i ? "'" + entries_[ranges[i - 1].entry].name + "'" : std::string("the buffer start");
        throw FormatError(where + ": tensor '" + entries_[r.entry].name + "' starts at byte " + std::to_string(r.begin) +
                          (r.begin < expected ? ", overlapping " : ", leaving a hole after ") + previous);
      }
      expected = r.end;
    }
    if (expected != buffer_size)
      throw FormatError(where + ": the tensors cover " + std::to_string(expected) + " of the " +
                        std::to_string(buffer_size) + " data bytes (truncated or padded file)");
    index_entries();
  }

  SourceFormat format() const override { return SourceFormat::kSafetensors; }
  std::string container_type() const override { return "safetensors"; }

  at::Tensor read(const TensorEntry& entry, std::optional<at::ScalarType> dtype, at::Device device) const override {
    return read_stored(*file_, offset_of(entry), entry, dtype, device);
  }
  void read_into(const TensorEntry& entry, at::Tensor& target) const override {
    read_stored_into(*file_, offset_of(entry), entry, target);
  }

 private:
  uint64_t offset_of(const TensorEntry& entry) const {
    auto it = index_.find(entry.name);
    const TensorEntry* own = it == index_.end() ? nullptr : &entries_[it->second];
    if (!own || (own != &entry && (own->dtype != entry.dtype || own->shape != entry.shape ||
                                   own->strides != entry.strides || own->storage_offset != entry.storage_offset)))
      throw InvalidArgument("tensor entry '" + entry.name + "' does not belong to " + path_.string());
    return data_start_ + begins_[it->second];
  }

  std::unique_ptr<FileReader> file_;
  uint64_t data_start_ = 0;
  std::vector<uint64_t> begins_;  // parallel to entries_
};

}  // namespace

std::unique_ptr<TensorSource> open_safetensors(std::unique_ptr<FileReader> file, const OpenOptions& options) {
  return std::make_unique<SafetensorsSource>(std::move(file), options);
}

}  // namespace viscpm::io
