#include "io/zip_archive.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "common/error.h"
#include "io/crc32.h"
#include "io/text.h"

namespace viscpm::io {

namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint64_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr uint64_t kLocalHeaderSize = 30, kCentralHeaderSize = 46;
constexpr uint32_t kMax32 = 0xFFFFFFFFu;
constexpr uint16_t kMax16 = 0xFFFFu;
constexpr uint64_t kAlignment = 64;
// About 5 million entries: no torch.save archive comes near, and the directory is read whole.
constexpr uint64_t kMaxCentralDirectoryBytes = uint64_t(256) << 20;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

struct Reader {
  const FileReader& file;
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(file.path().string() + ": damaged zip archive: " + printable(what));
  }
  // The bytes of [offset, offset + length), FormatError naming `what` when they lie past the end.
  std::vector<uint8_t> bytes(uint64_t offset, uint64_t length, const char* what) const {
    if (!file.contains(offset, length))
      fail(std::string(what) + " at byte " + std::to_string(offset) + " lies past the end of the file (" +
           std::to_string(file.size()) + " bytes; truncated download?)");
    return file.read_bytes(offset, length);
  }
};

struct Directory {
  uint64_t entries = 0, offset = 0, size = 0;
  uint64_t end = 0;  // where the central directory must stop (start of the end records)
};

Directory find_directory(const Reader& r) {
  const FileReader& file = r.file;
  if (file.size() < kEndSize) r.fail("too short for a zip archive");
  // The end record sits in the last 22 + 65535 (comment) bytes, with the ZIP64 locator
  // just before it; read that tail once and search it backwards.
  uint64_t tail_start = file.size() > kEndSize + 0xFFFF + kZip64LocatorSize
                            ? file.size() - kEndSize - 0xFFFF - kZip64LocatorSize
                            : 0;
  std::vector<uint8_t> tail = file.read_bytes(tail_start, file.size() - tail_start);
  auto in_tail = [&](uint64_t pos) { return tail.data() + (pos - tail_start); };
  uint64_t lowest = file.size() > kEndSize + 0xFFFF ? file.size() - kEndSize - 0xFFFF : 0;
  uint64_t end_pos = std::numeric_limits<uint64_t>::max();
  for (uint64_t pos = file.size() - kEndSize + 1; pos-- > lowest;) {
    const uint8_t* p = in_tail(pos);
    if (le32(p) == kEndSignature && pos + kEndSize + le16(p + 20) == file.size()) {
      end_pos = pos;
      break;
    }
  }
  if (end_pos == std::numeric_limits<uint64_t>::max())
    r.fail("no end-of-central-directory record (file truncated?)");
  const uint8_t* e = in_tail(end_pos);
  Directory d;
  uint16_t disk = le16(e + 4), cd_disk = le16(e + 6);
  d.entries = le16(e + 10);
  d.size = le32(e + 12);
  d.offset = le32(e + 16);
  d.end = end_pos;
  bool has_locator = end_pos >= kZip64LocatorSize && end_pos - kZip64LocatorSize >= tail_start &&
                     le32(in_tail(end_pos - kZip64LocatorSize)) == kZip64LocatorSignature;
  bool needs_zip64 = d.entries == kMax16 || d.size == kMax32 || d.offset == kMax32 ||
                     le16(e + 8) == kMax16 || disk == kMax16 || cd_disk == kMax16;
  if (needs_zip64 && !has_locator) r.fail("ZIP64 values without a ZIP64 end-of-central-directory locator");
  if (has_locator) {
    const uint8_t* loc = in_tail(end_pos - kZip64LocatorSize);
    if (le32(loc + 4) != 0 || le32(loc + 16) > 1) r.fail("multi-disk archives are not supported");
    uint64_t z_pos = le64(loc + 8);
    if (z_pos > end_pos - kZip64LocatorSize || end_pos - kZip64LocatorSize - z_pos < kZip64EndSize)
      r.fail("ZIP64 end-of-central-directory record out of place");
    std::vector<uint8_t> z64 = r.bytes(z_pos, kZip64EndSize, "ZIP64 end-of-central-directory record");
    const uint8_t* z = z64.data();
    if (le32(z) != kZip64EndSignature) r.fail("bad ZIP64 end-of-central-directory signature");
    disk = le32(z + 16) ? 1 : 0;
    cd_disk = le32(z + 20) ? 1 : 0;
    if (le64(z + 24) != le64(z + 32)) r.fail("multi-disk archives are not supported");
    // The 32-bit fields must either be saturated or agree with their 64-bit versions.
    if ((d.entries != kMax16 && d.entries != le64(z + 32)) || (d.size != kMax32 && d.size != le64(z + 40)) ||
        (d.offset != kMax32 && d.offset != le64(z + 48)))
      r.fail("the end-of-central-directory records disagree");
    d.entries = le64(z + 32);
    d.size = le64(z + 40);
    d.offset = le64(z + 48);
    d.end = z_pos;
  }
  if (disk != 0 || cd_disk != 0) r.fail("multi-disk archives are not supported");
  if (d.offset > d.end || d.size > d.end - d.offset)
    r.fail("central directory (" + std::to_string(d.size) + " bytes at " + std::to_string(d.offset) +
           ") does not fit before its end record at " + std::to_string(d.end));
  if (d.entries > d.size / kCentralHeaderSize)
    r.fail("central directory claims " + std::to_string(d.entries) + " entries in " +
           std::to_string(d.size) + " bytes");
  return d;
}

}  // namespace

std::vector<ZipRecord> read_zip_index(const FileReader& file) {
  Reader r{file};
  Directory d = find_directory(r);
  if (d.size > kMaxCentralDirectoryBytes)
    r.fail("central directory of " + std::to_string(d.size) + " bytes; a checkpoint's is far smaller");
  std::vector<uint8_t> directory = file.read_bytes(d.offset, d.size);
  std::vector<ZipRecord> records;
  records.reserve(d.entries);
  std::unordered_set<std::string> names;
  uint64_t pos = d.offset, cd_end = d.offset + d.size;
  for (uint64_t i = 0; i < d.entries; ++i) {
    if (cd_end - pos < kCentralHeaderSize) r.fail("central directory ends inside entry " + std::to_string(i));
    const uint8_t* h = directory.data() + (pos - d.offset);
    if (le32(h) != kCentralHeaderSignature) r.fail("bad central directory signature of entry " + std::to_string(i));
    uint16_t flags = le16(h + 8), method = le16(h + 10);
    uint32_t crc = le32(h + 16);
    uint64_t compressed = le32(h + 20), size = le32(h + 24);
    uint16_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
    uint32_t start_disk = le16(h + 34);
    uint64_t local = le32(h + 42);
    uint64_t variable = uint64_t(name_len) + extra_len + comment_len;
    if (cd_end - pos - kCentralHeaderSize < variable)
      r.fail("central directory ends inside entry " + std::to_string(i));
    ZipRecord rec;
    rec.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    // ZIP64 extended information: only the fields whose 32-bit value is saturated, in order.
    const uint8_t* extra = h + kCentralHeaderSize + name_len;
    for (uint64_t x = 0; x + 4 <= extra_len;) {
      uint16_t id = le16(extra + x), len = le16(extra + x + 2);
      if (x + 4 + len > extra_len) r.fail("extra field of '" + rec.name + "' overruns its entry");
      if (id == 0x0001) {
        const uint8_t* f = extra + x + 4;
        uint64_t used = 0;
        auto take64 = [&](uint64_t& value) {
          if (used + 8 > len) r.fail("ZIP64 field of '" + rec.name + "' too short");
          value = le64(f + used);
          used += 8;
        };
        if (size == kMax32) take64(size);
        if (compressed == kMax32) take64(compressed);
        if (local == kMax32) take64(local);
        if (start_disk == kMax16) {
          if (used + 4 > len) r.fail("ZIP64 field of '" + rec.name + "' too short");
          start_disk = le32(f + used);
        }
      }
      x += 4 + uint64_t(len);
    }
    if (size == kMax32 || compressed == kMax32 || local == kMax32)
      r.fail("entry '" + rec.name + "' needs a ZIP64 field it does not have");
    if (start_disk != 0) r.fail("multi-disk archives are not supported");
    if (flags & 0x0001) r.fail("entry '" + rec.name + "' is encrypted");
    if (method != 0)
      r.fail("entry '" + rec.name + "' is compressed (method " + std::to_string(method) +
             "); torch.save archives store entries uncompressed");
    if (compressed != size) r.fail("stored entry '" + rec.name + "' has different compressed and plain sizes");
    if (!names.insert(rec.name).second) r.fail("entry '" + rec.name + "' appears twice");

    // The local header repeats the name; its own extra field decides where data starts.
    std::vector<uint8_t> l = r.bytes(local, kLocalHeaderSize, "local header");
    if (le32(l.data()) != kLocalHeaderSignature) r.fail("bad local header signature of '" + rec.name + "'");
    uint16_t local_name_len = le16(l.data() + 26), local_extra_len = le16(l.data() + 28);
    std::vector<uint8_t> local_name = r.bytes(local + kLocalHeaderSize, local_name_len, "local header name");
    if (local_name_len != name_len || std::memcmp(local_name.data(), rec.name.data(), name_len) != 0)
      r.fail("local header of '" + rec.name + "' names a different entry");
    rec.data_offset = local + kLocalHeaderSize + local_name_len + local_extra_len;
    if (rec.data_offset > d.offset || size > d.offset - rec.data_offset)
      r.fail("data of '" + rec.name + "' (" + std::to_string(size) + " bytes at " +
             std::to_string(rec.data_offset) + ") runs into the central directory or past the end of the file");
    rec.size = size;
    rec.crc32 = crc;
    records.push_back(std::move(rec));
    pos += kCentralHeaderSize + variable;
  }
  return records;
}

// ---------------------------------------------------------------------------------------
// Writer

namespace {
void put16(std::string& s, uint16_t v) {
  s.push_back(char(v & 0xFF));
  s.push_back(char(v >> 8));
}
void put32(std::string& s, uint32_t v) {
  put16(s, uint16_t(v & 0xFFFF));
  put16(s, uint16_t(v >> 16));
}
void put64(std::string& s, uint64_t v) {
  put32(s, uint32_t(v & kMax32));
  put32(s, uint32_t(v >> 32));
}
}  // namespace

ZipWriter::ZipWriter(const std::string& path, bool force_zip64) : path_(path), force_zip64_(force_zip64) {
  out_.open(path, std::ios::binary | std::ios::trunc);
  if (!out_) throw IoError("cannot create " + path + ": " + std::strerror(errno));
}

void ZipWriter::write_bytes(const void* data, uint64_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {  // ostream::write takes a signed count
    auto chunk = static_cast<std::streamsize>(std::min<uint64_t>(size, uint64_t(1) << 30));
    out_.write(p, chunk);
    if (!out_) throw IoError("cannot write " + path_ + ": " + std::strerror(errno));
    p += chunk;
    size -= uint64_t(chunk);
  }
}

void ZipWriter::add(const std::string& name, const void* data, uint64_t size) {
  if (name.size() > 0xFFFF) throw InvalidArgument("zip entry name too long: " + name.substr(0, 80) + "...");
  uint32_t crc = crc32(data, size);
  bool zip64 = force_zip64_ || size >= kMax32;
  std::string header;
  put32(header, kLocalHeaderSignature);
  put16(header, zip64 ? 45 : 20);  // version needed
  put16(header, 0x0800);           // UTF-8 names
  put16(header, 0);                // stored
  put16(header, 0);
  put16(header, 0x21);  // 1980-01-01, like torch
  put32(header, crc);
  put32(header, zip64 ? kMax32 : uint32_t(size));
  put32(header, zip64 ? kMax32 : uint32_t(size));
  std::string extra;
  if (zip64) {
    put16(extra, 0x0001);
    put16(extra, 16);
    put64(extra, size);
    put64(extra, size);
  }
  // Pad (extra field "FB", as torch does) so the data starts on a 64-byte boundary.
  uint64_t data_start = position_ + kLocalHeaderSize + name.size() + extra.size();
  uint64_t pad = (kAlignment - data_start % kAlignment) % kAlignment;
  if (pad != 0) {
    if (pad < 4) pad += kAlignment;
    put16(extra, 0x4246);
    put16(extra, uint16_t(pad - 4));
    extra.append(pad - 4, 'Z');
  }
  put16(header, uint16_t(name.size()));
  put16(header, uint16_t(extra.size()));
  header += name;
  header += extra;
  written_.push_back({name, position_, size, crc});
  write_bytes(header.data(), header.size());
  position_ += header.size();
  write_bytes(data, size);
  position_ += size;
}

void ZipWriter::finish() {
  uint64_t cd_offset = position_;
  std::string cd;
  for (const auto& w : written_) {
    bool big_size = force_zip64_ || w.size >= kMax32;
    bool big_offset = force_zip64_ || w.header_offset >= kMax32;
    std::string extra;
    if (big_size || big_offset) {
      put16(extra, 0x0001);
      put16(extra, uint16_t((big_size ? 16 : 0) + (big_offset ? 8 : 0)));
      if (big_size) {
        put64(extra, w.size);
        put64(extra, w.size);
      }
      if (big_offset) put64(extra, w.header_offset);
    }
    put32(cd, kCentralHeaderSignature);
    put16(cd, 0x031E);  // made by: unix, 3.0
    put16(cd, (big_size || big_offset) ? 45 : 20);
    put16(cd, 0x0800);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0x21);
    put32(cd, w.crc);
    put32(cd, big_size ? kMax32 : uint32_t(w.size));
    put32(cd, big_size ? kMax32 : uint32_t(w.size));
    put16(cd, uint16_t(w.name.size()));
    put16(cd, uint16_t(extra.size()));
    put16(cd, 0);  // comment
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0);  // external attributes
    put32(cd, big_offset ? kMax32 : uint32_t(w.header_offset));
    cd += w.name;
    cd += extra;
  }
  uint64_t cd_size = cd.size();
  uint64_t count = written_.size();
  bool zip64 = force_zip64_ || count >= kMax16 || cd_offset >= kMax32 || cd_size >= kMax32;
  std::string tail;
  if (zip64) {
    uint64_t z_pos = cd_offset + cd_size;
    put32(tail, kZip64EndSignature);
    put64(tail, kZip64EndSize - 12);
    put16(tail, 0x031E);
    put16(tail, 45);
    put32(tail, 0);
    put32(tail, 0);
    put64(tail, count);
    put64(tail, count);
    put64(tail, cd_size);
    put64(tail, cd_offset);
    put32(tail, kZip64LocatorSignature);
    put32(tail, 0);
    put64(tail, z_pos);
    put32(tail, 1);
  }
  put32(tail, kEndSignature);
  put16(tail, 0);
  put16(tail, 0);
  put16(tail, zip64 ? kMax16 : uint16_t(count));
  put16(tail, zip64 ? kMax16 : uint16_t(count));
  put32(tail, zip64 ? kMax32 : uint32_t(cd_size));
  put32(tail, zip64 ? kMax32 : uint32_t(cd_offset));
  put16(tail, 0);
  write_bytes(cd.data(), cd.size());
  write_bytes(tail.data(), tail.size());
  position_ += cd.size() + tail.size();
  out_.close();
  if (!out_) throw IoError("cannot finish writing " + path_ + ": " + std::strerror(errno));
}

}  // namespace viscpm::io
