#include "io/file_reader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace viscpm::io {

FileReader::FileReader(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) throw NotFound("checkpoint file not found: " + path.string());
    throw IoError("cannot open " + path.string() + ": " + std::strerror(err));
  }
  struct stat info {};
  try {
    if (::fstat(fd_, &info) != 0) throw IoError("cannot stat " + path.string() + ": " + std::strerror(errno));
    if (S_ISDIR(info.st_mode))
      throw InvalidArgument(path.string() + " is a directory; pass the checkpoint file itself");
    if (!S_ISREG(info.st_mode)) throw InvalidArgument(path.string() + " is not a regular file");
    if (info.st_size <= 0) throw FormatError(path.string() + " is empty, not a checkpoint");
  } catch (...) {
    ::close(fd_);
    throw;
  }
  size_ = static_cast<uint64_t>(info.st_size);
  device_ = info.st_dev;
  inode_ = info.st_ino;
  mtime_seconds_ = info.st_mtim.tv_sec;
  mtime_nanoseconds_ = info.st_mtim.tv_nsec;
}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

void FileReader::changed_on_disk(const std::string& how) const {
  throw IoError("checkpoint changed on disk while open: " + path_.string() + " " + how +
                "; a model file must not be rewritten in place while it is being read (write the new file "
                "elsewhere and rename it over the old one), then load it again");
}

void FileReader::check_unchanged() const {
  struct stat info {};
  if (::fstat(fd_, &info) != 0) throw IoError("cannot stat " + path_.string() + ": " + std::strerror(errno));
  if (static_cast<uint64_t>(info.st_size) != size_)
    changed_on_disk("is now " + std::to_string(info.st_size) + " bytes, it was " + std::to_string(size_));
  if (info.st_dev != device_ || info.st_ino != inode_ || info.st_mtim.tv_sec != mtime_seconds_ ||
      info.st_mtim.tv_nsec != mtime_nanoseconds_)
    changed_on_disk("was modified");
}

void FileReader::read(uint64_t offset, void* destination, uint64_t length) const {
  if (!contains(offset, length))
    throw FormatError(path_.string() + ": read of " + std::to_string(length) + " bytes at " + std::to_string(offset) +
                      " past the end of the file (" + std::to_string(size_) + " bytes)");
  auto* out = static_cast<uint8_t*>(destination);
  uint64_t done = 0;
  while (done < length) {
    // pread moves at most ~2 GiB per call on Linux; ask in pieces below that.
    size_t ask = static_cast<size_t>(std::min<uint64_t>(length - done, uint64_t(1) << 30));
    ssize_t got = ::pread(fd_, out + done, ask, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError("cannot read " + path_.string() + ": " + std::strerror(errno));
    }
    if (got == 0) {  // end of file inside a range that existed at open
      check_unchanged();
      changed_on_disk("ended at byte " + std::to_string(offset + done));
    }
    done += static_cast<uint64_t>(got);
  }
  // After the copy: a rewrite that raced with it shows in the modification time.
  check_unchanged();
}

std::vector<uint8_t> FileReader::read_bytes(uint64_t offset, uint64_t length) const {
  std::vector<uint8_t> bytes(static_cast<size_t>(length));
  read(offset, bytes.data(), length);
  return bytes;
}

}  // namespace viscpm::io
