#include "io/crc32.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace viscpm::io {

namespace {
using Tables = std::array<std::array<uint32_t, 256>, 8>;

Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}
}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t length) {
  const Tables& t = tables();
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (length >= 8) {  // little-endian hosts only (as the readers assume)
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    length -= 8;
  }
  while (length--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

namespace {
constexpr uint32_t kPolynomial = 0xEDB88320u;  // reflected: bit 31 is x^0

// a*b modulo the CRC polynomial, in the reflected bit order.
uint32_t multiply_mod(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(8 * bytes) modulo the polynomial, by squaring.
uint32_t shift_for(uint64_t bytes) {
  uint32_t result = 1u << 31;  // x^0
  uint32_t power = 1u << 23;   // x^8: one byte
  while (bytes) {
    if (bytes & 1) result = multiply_mod(power, result);
    power = multiply_mod(power, power);
    bytes >>= 1;
  }
  return result;
}
}  // namespace

uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
  return multiply_mod(shift_for(length_b), crc_a) ^ crc_b;
}

uint32_t crc32_of_range(const FileReader& file, uint64_t offset, uint64_t length) {
  int64_t slices = static_cast<int64_t>((length + kCrcSlice - 1) / kCrcSlice);
  std::vector<uint32_t> crcs(static_cast<size_t>(slices));
  // at::parallel_for rethrows the first exception of any thread on the caller's.
  at::parallel_for(0, slices, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> buffer(static_cast<size_t>(std::min<uint64_t>(kCrcSlice, length)));
    for (int64_t i = begin; i < end; ++i) {
      uint64_t start = static_cast<uint64_t>(i) * kCrcSlice;
      uint64_t n = std::min(kCrcSlice, length - start);
      file.read(offset + start, buffer.data(), n);
      crcs[static_cast<size_t>(i)] = crc32(buffer.data(), n);
    }
  });
  uint32_t crc = 0;
  for (int64_t i = 0; i < slices; ++i) {
    uint64_t start = static_cast<uint64_t>(i) * kCrcSlice;
    crc = crc32_combine(crc, crcs[static_cast<size_t>(i)], std::min(kCrcSlice, length - start));
  }
  return crc;
}

}  // namespace viscpm::io
