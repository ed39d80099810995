#include "zip_edit.h"

#include <cstring>

namespace viscpm::fuzz {
namespace {

constexpr uint32_t kMax32 = 0xffffffffu;

uint64_t le(const Bytes& b, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}
void set32(Bytes& b, size_t at, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void add16(Bytes& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void add32(Bytes& s, uint32_t v) {
  add16(s, static_cast<uint16_t>(v & 0xffff));
  add16(s, static_cast<uint16_t>(v >> 16));
}
bool fits(const Bytes& b, uint64_t at, uint64_t len) { return at <= b.size() && len <= b.size() - at; }

struct Central {
  size_t header;        // offset of the central header
  std::string name;
  uint64_t size, local; // data size, local header offset
  uint64_t data;        // offset of the first data byte (from the local header)
};

// Walks the central directory; false at the first thing that does not parse.
bool walk(const Bytes& z, std::vector<Central>& out) {
  if (z.size() < 22) return false;
  size_t end = std::string::npos;
  size_t lowest = z.size() > 22 + 0xffff ? z.size() - 22 - 0xffff : 0;
  for (size_t pos = z.size() - 22 + 1; pos-- > lowest;) {
    if (le(z, pos, 4) == 0x06054b50) {
      end = pos;
      break;
    }
  }
  if (end == std::string::npos) return false;
  uint64_t entries = le(z, end + 10, 2), cd = le(z, end + 16, 4);
  if ((cd == kMax32 || entries == 0xffff) && end >= 20 && le(z, end - 20, 4) == 0x07064b50) {
    uint64_t z64 = le(z, end - 20 + 8, 8);
    if (!fits(z, z64, 56) || le(z, z64, 4) != 0x06064b50) return false;
    entries = le(z, z64 + 32, 8);
    cd = le(z, z64 + 48, 8);
  }
  uint64_t pos = cd;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!fits(z, pos, 46) || le(z, pos, 4) != 0x02014b50) return false;
    uint64_t size = le(z, pos + 24, 4), compressed = le(z, pos + 20, 4), local = le(z, pos + 42, 4);
    uint64_t name_len = le(z, pos + 28, 2), extra_len = le(z, pos + 30, 2), comment_len = le(z, pos + 32, 2);
    if (!fits(z, pos + 46, name_len + extra_len + comment_len)) return false;
    for (uint64_t x = 0; x + 4 <= extra_len;) {  // ZIP64 extended information
      uint64_t at = pos + 46 + name_len + x, id = le(z, at, 2), len = le(z, at + 2, 2), used = 0;
      if (x + 4 + len > extra_len) return false;
      auto take = [&](uint64_t& v) {
        if (used + 8 <= len) v = le(z, at + 4 + used, 8);
        used += 8;
      };
      if (id == 1) {
        if (size == kMax32) take(size);
        if (compressed == kMax32) take(compressed);
        if (local == kMax32) take(local);
      }
      x += 4 + len;
    }
    if (!fits(z, local, 30) || le(z, local, 4) != 0x04034b50) return false;
    uint64_t data = local + 30 + le(z, local + 26, 2) + le(z, local + 28, 2);
    if (!fits(z, data, size)) return false;
    out.push_back({static_cast<size_t>(pos), z.substr(pos + 46, name_len), size, local, data});
    pos += 46 + name_len + extra_len + comment_len;
  }
  return true;
}

}  // namespace

bool split_zip(const Bytes& zip, std::vector<ZipEntry>& entries) {
  std::vector<Central> central;
  if (!walk(zip, central)) return false;
  entries.clear();
  for (const auto& c : central) entries.push_back({c.name, zip.substr(c.data, c.size)});
  return true;
}

Bytes join_zip(const std::vector<ZipEntry>& entries) {
  Bytes out, directory;
  for (const auto& e : entries) {
    const uint32_t crc = crc32_of(e.data.data(), e.data.size());
    const auto offset = static_cast<uint32_t>(out.size());
    const size_t name_len = std::min<size_t>(e.name.size(), 0xffff);
    size_t data_start = out.size() + 30 + name_len + 4;
    size_t pad = (64 - data_start % 64) % 64;
    Bytes extra;
    add16(extra, 0x4246);  // "FB": torch's alignment padding
    add16(extra, static_cast<uint16_t>(pad));
    extra.append(pad, 'Z');
    auto header = [&](Bytes& s, bool central) {
      add32(s, central ? 0x02014b50 : 0x04034b50);
      if (central) add16(s, 0x031e);  // made by
      add16(s, 20);                   // version needed
      add16(s, 0x0800);               // UTF-8 names
      add16(s, 0);                    // stored
      add16(s, 0);
      add16(s, 0x21);
      add32(s, crc);
      add32(s, static_cast<uint32_t>(e.data.size()));
      add32(s, static_cast<uint32_t>(e.data.size()));
      add16(s, static_cast<uint16_t>(name_len));
      add16(s, central ? 0 : static_cast<uint16_t>(extra.size()));
      if (central) {
        add16(s, 0);  // comment
        add16(s, 0);  // disk
        add16(s, 0);  // internal attributes
        add32(s, 0);  // external attributes
        add32(s, offset);
      }
      s.append(e.name, 0, name_len);
    };
    header(out, false);
    out += extra;
    out += e.data;
    header(directory, true);
  }
  const auto cd_offset = static_cast<uint32_t>(out.size());
  out += directory;
  add32(out, 0x06054b50);
  add16(out, 0);
  add16(out, 0);
  add16(out, static_cast<uint16_t>(entries.size()));
  add16(out, static_cast<uint16_t>(entries.size()));
  add32(out, static_cast<uint32_t>(directory.size()));
  add32(out, cd_offset);
  add16(out, 0);
  return out;
}

size_t fix_zip_crcs(Bytes& zip) {
  std::vector<Central> central;
  walk(zip, central);  // a partial walk still fixes the entries it reached
  for (const auto& c : central) {
    uint32_t crc = crc32_of(zip.data() + c.data, c.size);
    set32(zip, c.header + 16, crc);
    if ((le(zip, c.local + 6, 2) & 0x0008) == 0) {
      set32(zip, c.local + 14, crc);
    } else if (fits(zip, c.data + c.size, 8) && le(zip, c.data + c.size, 4) == 0x08074b50) {
      set32(zip, c.data + c.size + 4, crc);  // torch writes CRCs after the data (flag bit 3)
    }
  }
  return central.size();
}

}  // namespace viscpm::fuzz
