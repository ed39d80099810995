// CRC-32 (ISO-HDLC, the zip checksum), slice-by-8: ~2 GB/s, so verifying a storage costs
// far less than reading it from disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/file_reader.h"

namespace viscpm::io {

// crc32(data) == crc32_update(0, data); chunks can be chained through `crc`.
uint32_t crc32_update(uint32_t crc, const void* data, size_t length);
inline uint32_t crc32(const void* data, size_t length) { return crc32_update(0, data, length); }

// CRC of A+B from crc(A), crc(B) and B's length.
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

// crc32 of the file's bytes [offset, offset + length), in 16 MB slices on ATen's intra-op
// threads, each read into its own buffer (FileReader's errors propagate).
uint32_t crc32_of_range(const FileReader& file, uint64_t offset, uint64_t length);

constexpr uint64_t kCrcSlice = uint64_t(16) << 20;

}  // namespace viscpm::io
