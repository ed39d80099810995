// Minimal ZIP support for torch.save archives: every entry stored (uncompressed), ZIP64
// for archives and entries beyond 4 GiB. The reader only indexes the archive; entry
// bytes are read by whoever needs them.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "io/file_reader.h"

namespace viscpm::io {

struct ZipRecord {
  std::string name;
  uint64_t data_offset = 0;  // file offset of the first data byte
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

// Parses the (ZIP64) end-of-central-directory record, the central directory and every
// local header, checking that each range lies inside the file. FormatError otherwise.
std::vector<ZipRecord> read_zip_index(const FileReader& file);

// Streams stored entries to a file. Data starts 64-byte aligned, as torch writes it.
class ZipWriter {
 public:
  // force_zip64 writes ZIP64 records even when nothing needs them (tests of the reader).
  explicit ZipWriter(const std::string& path, bool force_zip64 = false);
  // One entry from memory (CRC computed here).
  void add(const std::string& name, const void* data, uint64_t size);
  // Writes the central directory; the destructor of an unfinished writer leaves a
  // truncated file behind (callers write to a temporary name and rename).
  void finish();

 private:
  struct Written {
    std::string name;
    uint64_t header_offset, size;
    uint32_t crc;
  };
  void write_bytes(const void* data, uint64_t size);
  std::string path_;
  std::ofstream out_;
  uint64_t position_ = 0;
  bool force_zip64_;
  std::vector<Written> written_;
};

}  // namespace viscpm::io
