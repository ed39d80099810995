// CRC-32 (ISO-HDLC, the zip checksum), slice-by-8: ~2 GB/s, so verifying a storage costs
// far less than reading it from disk.
#pragma once

#include <ATen/Parallel.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace viscpm::io {

// crc32(data) == crc32_update(0, data); chunks can be chained through `crc`.
uint32_t crc32_update(uint32_t crc, const void* data, size_t length);
inline uint32_t crc32(const void* data, size_t length) { return crc32_update(0, data, length); }

// CRC of A+B from crc(A), crc(B) and B's length.
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

// crc32 computed in slices on ATen's intra-op threads; `after_slice(offset, length)` runs
// once per slice when it has been summed (used to release mapped pages).
template <class AfterSlice>
uint32_t crc32_parallel(const uint8_t* data, uint64_t length, AfterSlice after_slice);

constexpr uint64_t kCrcSlice = uint64_t(16) << 20;

template <class AfterSlice>
uint32_t crc32_parallel(const uint8_t* data, uint64_t length, AfterSlice after_slice) {
  int64_t slices = static_cast<int64_t>((length + kCrcSlice - 1) / kCrcSlice);
  std::vector<uint32_t> crcs(static_cast<size_t>(slices));
  at::parallel_for(0, slices, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t offset = static_cast<uint64_t>(i) * kCrcSlice;
      uint64_t n = std::min(kCrcSlice, length - offset);
      crcs[static_cast<size_t>(i)] = crc32(data + offset, n);
      after_slice(offset, n);
    }
  });
  uint32_t crc = 0;
  for (int64_t i = 0; i < slices; ++i) {
    uint64_t offset = static_cast<uint64_t>(i) * kCrcSlice;
    crc = crc32_combine(crc, crcs[static_cast<size_t>(i)], std::min(kCrcSlice, length - offset));
  }
  return crc;
}

}  // namespace viscpm::io
