// Read-only memory map of a whole file. Checkpoints are 20+ GB: mapping lets the readers
// touch only the bytes of the tensor being read, and the kernel drop them afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace viscpm::io {

class MappedFile {
 public:
  // NotFound if missing, InvalidArgument for a directory, IoError if the OS refuses,
  // FormatError for an empty file (nothing to map, and never a valid checkpoint).
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // True when [offset, offset + length) lies inside the file (overflow-safe).
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }
  // Tells the kernel the range was consumed: clean file pages leave the process'
  // resident set (they are re-read from the file if touched again). Never fails.
  void release(uint64_t offset, uint64_t length) const;

 private:
  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace viscpm::io
