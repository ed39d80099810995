// A checkpoint file read with pread(2), never memory-mapped. Every byte the readers use is
// copied anyway (into the index, the pickle, or a tensor the caller owns), so a map buys
// nothing, and it costs a SIGBUS the moment another process truncates or rewrites the
// file in place (`cp new.pt model.pt`): the page the reader touches no longer exists. With
// pread a short read is an error code, and each read checks that the file is still the
// one that was opened (size and modification time), so a file changed on disk while open
// is an IoError naming it, never a signal and never a silent mix of two files. Replacing
// the file by rename is harmless: the open descriptor keeps the old contents.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace viscpm::io {

class FileReader {
 public:
  // NotFound if missing, InvalidArgument for a directory, IoError if the OS refuses,
  // FormatError for an empty file (never a valid checkpoint).
  explicit FileReader(const std::filesystem::path& path);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // True when [offset, offset + length) lies inside the file (overflow-safe).
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

  // Copies [offset, offset + length) into `destination`. The range must lie inside the
  // file as opened (callers check with contains()); IoError ("changed on disk while
  // open") when the file has shrunk or been rewritten since, IoError on a read error.
  // Thread-safe: pread has no shared file position.
  void read(uint64_t offset, void* destination, uint64_t length) const;
  std::vector<uint8_t> read_bytes(uint64_t offset, uint64_t length) const;

 private:
  [[noreturn]] void changed_on_disk(const std::string& how) const;
  void check_unchanged() const;

  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  // Identity at open: a rewrite in place changes the modification time (and usually the size).
  dev_t device_ = 0;
  ino_t inode_ = 0;
  int64_t mtime_seconds_ = 0, mtime_nanoseconds_ = 0;
};

}  // namespace viscpm::io
