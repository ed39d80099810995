#include "io/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace viscpm::io {

namespace {
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  FileDescriptor file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      throw NotFound("checkpoint file not found: " + path.string());
    throw IoError("cannot open " + path.string() + ": " + std::strerror(err));
  }
  struct stat info {};
  if (::fstat(file.fd, &info) != 0)
    throw IoError("cannot stat " + path.string() + ": " + std::strerror(errno));
  if (S_ISDIR(info.st_mode))
    throw InvalidArgument(path.string() + " is a directory; pass the checkpoint file itself");
  if (!S_ISREG(info.st_mode))
    throw InvalidArgument(path.string() + " is not a regular file");
  if (info.st_size <= 0) throw FormatError(path.string() + " is empty, not a checkpoint");
  size_ = static_cast<uint64_t>(info.st_size);
  void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (mapping == MAP_FAILED)
    throw IoError("cannot memory-map " + path.string() + ": " + std::strerror(errno));
  data_ = static_cast<const uint8_t*>(mapping);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
  if (!contains(offset, length) || length == 0) return;
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  // Only whole pages inside the range: neighbours may still be in use by another reader.
  uint64_t begin = (offset + page - 1) / page * page;
  uint64_t end = (offset + length) / page * page;
  if (end <= begin) return;
  ::madvise(const_cast<uint8_t*>(data_) + begin, end - begin, MADV_DONTNEED);
}

}  // namespace viscpm::io
