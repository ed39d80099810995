#include "io/tensor_source.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "io/file_reader.h"
#include "io/sources.h"

namespace viscpm::io {

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated when the entry was made
  return n;
}

int64_t TensorEntry::nbytes() const { return numel() * static_cast<int64_t>(at::elementSize(dtype)); }

bool TensorEntry::contiguous() const {  // torch's rule: size-1 dimensions have any stride
  if (numel() == 0) return true;
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= shape[d];
  }
  return storage_offset >= 0;
}

const TensorEntry* TensorSource::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const TensorEntry& TensorSource::at(const std::string& name) const {
  const TensorEntry* e = find(name);
  if (!e) throw FormatError(path_.string() + " has no tensor '" + name + "'");
  return *e;
}

void TensorSource::index_entries() {
  index_.clear();
  index_.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i)
    if (!index_.emplace(entries_[i].name, i).second)
      throw FormatError(path_.string() + ": tensor '" + entries_[i].name + "' appears twice");
}

namespace {
// torch.save before 1.6: a pickled magic number 0x1950a86a20f9469cfc6c, then more pickles.
bool is_legacy_torch_file(const uint8_t* d, uint64_t size) {
  static const uint8_t magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (size >= 2 + sizeof magic && d[0] == 0x80 && std::memcmp(d + 2, magic, sizeof magic) == 0) return true;
  return size >= 262 && std::memcmp(d + 257, "ustar", 5) == 0;  // the tar format of torch < 0.4
}
}  // namespace

std::unique_ptr<TensorSource> TensorSource::open(const std::filesystem::path& path, const OpenOptions& options) {
  auto file = std::make_unique<FileReader>(path);
  uint64_t size = file->size();
  std::vector<uint8_t> head = file->read_bytes(0, std::min<uint64_t>(size, 262));  // enough for every magic
  const uint8_t* d = head.data();
  if (size >= 4 && (std::memcmp(d, "PK\x03\x04", 4) == 0 || std::memcmp(d, "PK\x05\x06", 4) == 0))
    return open_torch_zip(std::move(file), options);
  if (size >= 9 && d[8] == '{') return open_safetensors(std::move(file), options);
  if (is_legacy_torch_file(d, size))
    throw Unsupported(path.string() + " uses the legacy torch.save format (PyTorch < 1.6), which is not supported; "
                      "re-save it with PyTorch >= 1.6: torch.save(torch.load(old), new)");
  throw FormatError(path.string() + " is neither a torch.save zip archive nor a safetensors file");
}

std::vector<std::pair<std::string, at::Tensor>> read_all(const std::filesystem::path& path) {
  auto source = TensorSource::open(path);
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(source->entries().size());
  for (const auto& e : source->entries()) out.emplace_back(e.name, source->read(e));
  return out;
}

}  // namespace viscpm::io
