// torch.save (>= 1.6) archives: zip index -> data.pkl -> one entry per pickled tensor,
// each checked against the storage record it views.
#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "common/error.h"
#include "io/crc32.h"
#include "io/dtypes.h"
#include "io/stored_tensor.h"
#include "io/sources.h"
#include "io/state_dict_pickle.h"
#include "io/text.h"
#include "io/zip_archive.h"

namespace viscpm::io {

namespace {

struct StorageRecord {
  std::string record;  // zip entry name, for messages
  uint64_t offset = 0, nbytes = 0;
  uint32_t crc = 0;
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;
  mutable std::once_flag verified;
};

class TorchZipSource final : public TensorSource {
 public:
  TorchZipSource(std::unique_ptr<FileReader> file, const OpenOptions& options)
      : TensorSource(file->path()), file_(std::move(file)), options_(options) {
    const std::string where = path_.string();
    std::vector<ZipRecord> records = read_zip_index(*file_);

    // The archive folder is whatever precedes "/data.pkl" (the file stem, "archive", ...).
    const ZipRecord* pickle = nullptr;
    for (const auto& r : records) {
      static const std::string suffix = "/data.pkl";
      if (r.name.size() > suffix.size() && r.name.compare(r.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          r.name.find('/') == r.name.size() - suffix.size()) {
        if (pickle) throw FormatError(where + ": several data.pkl entries ('" + pickle->name + "', '" + r.name + "')");
        pickle = &r;
      }
    }
    if (!pickle) throw FormatError(where + ": zip archive without <folder>/data.pkl; not a torch.save checkpoint");
    const std::string folder = pickle->name.substr(0, pickle->name.size() - 8);  // keeps the '/'
    std::unordered_map<std::string, const ZipRecord*> by_name;
    for (const auto& r : records) by_name[r.name] = &r;

    check_version(by_name, folder);
    if (pickle->size > kMaxPickleBytes)
      throw FormatError(where + ": data.pkl is " + std::to_string(pickle->size) + " bytes, too large for a state dict");
    std::vector<uint8_t> pickle_bytes = read_record(*pickle);
    PickledStateDict dict = parse_state_dict_pickle(pickle_bytes.data(), pickle_bytes.size(), where);
    container_type_ = dict.container_type;

    entries_.reserve(dict.tensors.size());
    for (auto& t : dict.tensors) {
      const std::string what = where + ": tensor '" + t.name + "'";
      auto& slot = storages_[t.storage_key];
      bool fresh = !slot;
      if (fresh) slot = std::make_unique<StorageRecord>();
      StorageRecord& s = *slot;
      if (fresh) {
        auto rec = by_name.find(folder + "data/" + t.storage_key);
        if (rec == by_name.end())
          throw FormatError(what + " refers to storage data/" + t.storage_key + ", which the archive lacks");
        auto nbytes = checked_mul(t.storage_numel, static_cast<int64_t>(at::elementSize(t.dtype)));
        if (!nbytes || static_cast<uint64_t>(*nbytes) != rec->second->size)
          throw FormatError(what + ": storage data/" + t.storage_key + " declares " + std::to_string(t.storage_numel) +
                            " " + python_dtype_name(t.dtype) + " elements but its record holds " +
                            std::to_string(rec->second->size) + " bytes");
        s.record = rec->second->name;
        s.offset = rec->second->data_offset;
        s.nbytes = rec->second->size;
        s.crc = rec->second->crc32;
        s.dtype = t.dtype;
        s.numel = t.storage_numel;
      } else if (s.dtype != t.dtype || s.numel != t.storage_numel) {
        throw FormatError(what + ": storage data/" + t.storage_key + " is declared with two different types or sizes");
      }
      TensorEntry e;
      e.name = std::move(t.name);
      e.dtype = t.dtype;
      e.shape = std::move(t.shape);
      e.strides = std::move(t.strides);
      e.storage_offset = t.storage_offset;
      e.storage_key = "data/" + t.storage_key;
      check_view_in_bounds(e, s.numel, what);
      entries_.push_back(std::move(e));
    }
    index_entries();
  }

  SourceFormat format() const override { return SourceFormat::kTorchZip; }
  std::string container_type() const override { return container_type_; }

  at::Tensor read(const TensorEntry& entry, std::optional<at::ScalarType> dtype, at::Device device) const override {
    return read_stored(*file_, storage_for(entry).offset, entry, dtype, device);
  }
  void read_into(const TensorEntry& entry, at::Tensor& target) const override {
    read_stored_into(*file_, storage_for(entry).offset, entry, target);
  }

 private:
  void check_version(const std::unordered_map<std::string, const ZipRecord*>& by_name, const std::string& folder) const {
    auto it = by_name.find(folder + "version");
    if (it == by_name.end()) it = by_name.find(folder + ".data/version");
    if (it == by_name.end()) throw FormatError(path_.string() + ": torch archive without a version record");
    const ZipRecord& r = *it->second;
    if (r.size > 32) throw FormatError(path_.string() + ": unreadable torch archive version record");
    std::vector<uint8_t> version_bytes = read_record(r);
    std::string text(version_bytes.begin(), version_bytes.end());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (text.empty() || text.size() > 3 || text.find_first_not_of("0123456789") != std::string::npos)
      throw FormatError(path_.string() + ": unreadable torch archive version record");
    int version = std::stoi(text);
    if (version < 1 || version > 10)
      throw Unsupported(path_.string() + ": torch archive format version " + text + " is not supported");
    auto order = by_name.find(folder + "byteorder");
    if (order != by_name.end()) {
      if (order->second->size > 16)
        throw FormatError(path_.string() + ": unreadable torch archive byteorder record");
      std::vector<uint8_t> order_bytes = read_record(*order->second);
      std::string value(order_bytes.begin(), order_bytes.end());
      if (value.rfind("little", 0) != 0)
        throw Unsupported(path_.string() + ": storages are stored " + printable(value) + "-endian; re-save the file on a little-endian machine");
    }
  }

  // A small record (pickle, version), read whole and checked against its CRC.
  std::vector<uint8_t> read_record(const ZipRecord& r) const {
    std::vector<uint8_t> bytes = file_->read_bytes(r.data_offset, r.size);
    if (options_.verify_checksums && r.crc32 != 0 && crc32(bytes.data(), bytes.size()) != r.crc32)
      throw FormatError(path_.string() + ": entry '" + r.name + "' fails its CRC-32 check (damaged file)");
    return bytes;
  }

  const StorageRecord& storage_for(const TensorEntry& entry) const {
    bool ours = entry.storage_key.rfind("data/", 0) == 0;
    auto it = ours ? storages_.find(entry.storage_key.substr(5)) : storages_.end();
    if (it == storages_.end())
      throw InvalidArgument("tensor entry '" + entry.name + "' does not belong to " + path_.string());
    const StorageRecord& s = *it->second;
    if (entry.dtype != s.dtype)
      throw InvalidArgument("tensor entry '" + entry.name + "' does not match its storage in " + path_.string());
    check_view_in_bounds(entry, s.numel, path_.string() + ": tensor '" + entry.name + "'");
    if (options_.verify_checksums && s.crc != 0) {
      std::call_once(s.verified, [&] {
        // In parallel slices, each read into its own bounded buffer.
        uint32_t crc = crc32_of_range(*file_, s.offset, s.nbytes);
        if (crc != s.crc)
          throw FormatError(path_.string() + ": storage '" + s.record + "' (of tensor '" + entry.name +
                            "') fails its CRC-32 check (damaged file)");
      });
    }
    return s;
  }

  std::unique_ptr<FileReader> file_;
  OpenOptions options_;
  std::string container_type_;
  std::unordered_map<std::string, std::unique_ptr<StorageRecord>> storages_;
};

}  // namespace

std::unique_ptr<TensorSource> open_torch_zip(std::unique_ptr<FileReader> file, const OpenOptions& options) {
  return std::make_unique<TorchZipSource>(std::move(file), options);
}

}  // namespace viscpm::io
