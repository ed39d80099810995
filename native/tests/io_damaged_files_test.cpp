// Damaged checkpoints: every corrupted variant must raise viscpm::FormatError -- no crash,
// no other exception type, no absurd allocation. Variants are generated from the fixture
// files (truncations, flipped bytes in the pickle and the zip directory, absurd sizes,
// bad safetensors headers). A fuzz pass then checks "FormatError or a valid read" for
// random flips that may leave a file valid.
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/ones.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "common/error.h"
#include "io/crc32.h"
#include "io/file_reader.h"
#include "io/tensor_source.h"
#include "io/writers_internal.h"
#include "io/zip_archive.h"
#include "test_support.h"

#include <unistd.h>

namespace {

using Bytes = std::string;
using viscpm::io::TensorSource;

Bytes slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// One folder per process: CTest runs these tests as parallel processes, and a file one of
// them truncates while another has it memory-mapped would kill the reader with SIGBUS.
std::filesystem::path temp_file(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("io_damaged_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

enum class Verdict { kFormatError, kReadable, kOtherError };

// Opens the bytes as a checkpoint and reads every tensor.
Verdict try_load(const Bytes& bytes, std::string* message) {
  auto path = temp_file("variant.bin");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    auto source = TensorSource::open(path);
    for (const auto& e : source->entries()) source->read(e, at::kFloat);
    return Verdict::kReadable;
  } catch (const viscpm::FormatError& e) {
    *message = e.what();
    return Verdict::kFormatError;
  } catch (const std::exception& e) {
    *message = std::string("unexpected exception: ") + e.what();
    return Verdict::kOtherError;
  }
}

struct Variants {
  std::vector<std::pair<std::string, Bytes>> items;
  void add(std::string label, Bytes bytes) { items.emplace_back(std::move(label), std::move(bytes)); }
};

void expect_all_format_errors(const Variants& variants) {
  for (const auto& [label, bytes] : variants.items) {
    std::string message;
    Verdict v = try_load(bytes, &message);
    EXPECT_EQ(v, Verdict::kFormatError) << label << ": " << (v == Verdict::kReadable ? "accepted" : message);
    if (std::getenv("VISCPM_IO_TEST_VERBOSE")) std::cout << label << " -> " << message << "\n";
  }
}

uint32_t get32(const Bytes& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
void put32(Bytes& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }
void put64(Bytes& b, size_t at, uint64_t v) { std::memcpy(&b[at], &v, 8); }

// Where things are in a (pristine) torch zip, found with the reader under test.
struct ZipLayout {
  std::vector<viscpm::io::ZipRecord> records;
  size_t pickle_offset = 0, pickle_size = 0;
  size_t pickle_crc_field = 0;            // of data.pkl in the central directory
  std::vector<size_t> central_headers;    // file offsets
  size_t end_record = 0;
};

ZipLayout layout_of(const std::filesystem::path& path, const Bytes& bytes) {
  ZipLayout z;
  viscpm::io::FileReader file(path);
  z.records = viscpm::io::read_zip_index(file);
  z.end_record = bytes.rfind(std::string("PK\x05\x06", 4));
  for (size_t pos = bytes.find(std::string("PK\x01\x02", 4)); pos != Bytes::npos && pos < z.end_record;
       pos = bytes.find(std::string("PK\x01\x02", 4), pos + 1))
    z.central_headers.push_back(pos);
  for (size_t i = 0; i < z.records.size(); ++i) {
    const auto& r = z.records[i];
    if (r.name.size() > 9 && r.name.substr(r.name.size() - 9) == "/data.pkl") {
      z.pickle_offset = r.data_offset;
      z.pickle_size = r.size;
      for (size_t h : z.central_headers)
        if (bytes.compare(h + 46, r.name.size(), r.name) == 0) z.pickle_crc_field = h + 16;
    }
  }
  return z;
}

// The archive with its pickle replaced in place (same length) and the CRC made valid,
// so the unpickler itself sees the damage.
Bytes with_pickle(const Bytes& bytes, const ZipLayout& z, const Bytes& pickle) {
  EXPECT_EQ(pickle.size(), z.pickle_size) << "a pickle edit must keep its length";
  Bytes out = bytes;
  out.replace(z.pickle_offset, z.pickle_size, pickle);
  put32(out, z.pickle_crc_field, viscpm::io::crc32(pickle.data(), pickle.size()));
  return out;
}

Bytes replace_first(Bytes haystack, const Bytes& needle, const Bytes& replacement) {
  size_t at = haystack.find(needle);
  EXPECT_NE(at, Bytes::npos) << needle;
  if (at != Bytes::npos) haystack.replace(at, needle.size(), replacement);
  return haystack;
}

long max_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// ---------------------------------------------------------------------------------------

TEST(IoDamagedFiles, TorchZipVariantsRaiseFormatError) {
  auto path = viscpm::testing::fixtures_dir() / "models/chat/viscpm_chat_extra_keys.pt";
  Bytes pristine = slurp(path);
  std::string message;
  ASSERT_EQ(try_load(pristine, &message), Verdict::kReadable) << message;
  ZipLayout z = layout_of(path, pristine);
  ASSERT_GT(z.pickle_size, 1000u);
  ASSERT_GT(z.central_headers.size(), 10u);
  Bytes pickle = pristine.substr(z.pickle_offset, z.pickle_size);
  std::mt19937 rng(1234);
  Variants v;

  // Truncated at random offsets (and a few telling ones).
  for (int i = 0; i < 12; ++i) {
    size_t cut = std::uniform_int_distribution<size_t>(1, pristine.size() - 1)(rng);
    v.add("truncated at " + std::to_string(cut), pristine.substr(0, cut));
  }
  for (size_t cut : {size_t(0), size_t(3), z.pickle_offset + z.pickle_size / 2, z.central_headers[0], z.end_record + 10})
    v.add("truncated at " + std::to_string(cut), pristine.substr(0, cut));

  // Flipped bytes in the pickle: the CRC catches them.
  for (int i = 0; i < 10; ++i) {
    Bytes b = pristine;
    size_t at = z.pickle_offset + std::uniform_int_distribution<size_t>(0, z.pickle_size - 1)(rng);
    b[at] = char(b[at] ^ (1 + rng() % 255));
    v.add("pickle byte flipped at " + std::to_string(at), b);
  }
  // Pickle damage behind a valid CRC: the unpickler must refuse it.
  v.add("unknown global", with_pickle(pristine, z, replace_first(pickle, "collections\nOrderedDict", "collections\nOrderedDicX")));
  {
    Bytes system_call = "posix\nsystem\n";
    system_call.resize(std::strlen("collections\nOrderedDict\n"), 'N');
    v.add("code execution global", with_pickle(pristine, z, replace_first(pickle, "collections\nOrderedDict\n", system_call)));
  }
  v.add("unknown rebuild function", with_pickle(pristine, z, replace_first(pickle, "_rebuild_tensor_v2", "_rebuild_tensor_v9")));
  v.add("unknown storage class", with_pickle(pristine, z, replace_first(pickle, "torch\nHalfStorage", "torch\nHalfStoragX")));
  v.add("pickle protocol 9", with_pickle(pristine, z, replace_first(pickle, "\x80\x02", "\x80\x09")));
  {
    Bytes p = pickle;
    p[2] = 'i';  // INST instead of GLOBAL
    v.add("text-mode opcode", with_pickle(pristine, z, p));
  }
  v.add("no STOP", with_pickle(pristine, z, pickle.substr(0, pickle.size() - 1) + "N"));
  v.add("storage type dropped", with_pickle(pristine, z, replace_first(pickle, "storage", "storagX")));
  v.add("storage key missing from the archive", with_pickle(pristine, z, replace_first(pickle, Bytes("X\x01\x00\x00\x00" "0", 6), Bytes("X\x01\x00\x00\x00" "Z", 6))));
  {  // the first storage declares 65535 elements: not what its record holds
    size_t cpu = pickle.find("cpu");
    size_t at = pickle.find('M', cpu);
    Bytes p = pickle;
    p[at + 1] = '\xff';
    p[at + 2] = '\xff';
    v.add("absurd storage size", with_pickle(pristine, z, p));
  }
  {  // the first tensor's storage offset jumps past its storage
    size_t at = pickle.find('Q') + 1;
    Bytes p = pickle;
    ASSERT_EQ(p[at], 'K');
    p[at + 1] = '\xff';
    v.add("storage offset out of bounds", with_pickle(pristine, z, p));
  }
  {  // the first dimension of the first tensor grows past its storage
    size_t at = pickle.find('Q') + 3;
    Bytes p = pickle;
    ASSERT_EQ(p[at], 'K');
    p[at + 1] = '\xff';
    v.add("shape out of bounds", with_pickle(pristine, z, p));
  }
  {  // BINGET of a memo entry never stored
    size_t at = pickle.find('h', 40);
    Bytes p = pickle;
    p[at + 1] = '\xfe';
    v.add("memo hole", with_pickle(pristine, z, p));
  }
  v.add("empty pickle", with_pickle(pristine, z, Bytes(pickle.size(), '\0')));

  // Central directory damage, one meaningful field of a random entry at a time.
  struct Field {
    const char* name;
    size_t offset;
    uint8_t mask;  // 0: random non-zero xor
  };
  const Field fields[] = {{"signature", 1, 0},      {"flags (encrypted)", 8, 0x01}, {"method", 10, 0x08},
                          {"crc", 17, 0},           {"compressed size", 21, 0},     {"size", 25, 0},
                          {"name length", 28, 0},   {"local header offset", 43, 0}, {"name", 50, 0},
                          {"name length high", 29, 0x40}, {"size high", 27, 0x80}, {"offset high", 45, 0x10}};
  for (const auto& f : fields) {
    size_t h = z.central_headers[std::uniform_int_distribution<size_t>(0, z.central_headers.size() - 1)(rng)];
    Bytes b = pristine;
    b[h + f.offset] = char(b[h + f.offset] ^ (f.mask ? f.mask : 1 + rng() % 255));
    v.add(std::string("central directory ") + f.name + " flipped at " + std::to_string(h + f.offset), b);
  }
  // End record damage.
  for (size_t field : {size_t(0), size_t(10), size_t(12), size_t(16), size_t(19)}) {
    Bytes b = pristine;
    b[z.end_record + field] = char(b[z.end_record + field] ^ 0x21);
    v.add("end record byte " + std::to_string(field) + " flipped", b);
  }
  {  // a storage record claims almost 4 GiB
    Bytes b = pristine;
    size_t h = z.central_headers[3];
    put32(b, h + 20, 0xFFFFFFFE);
    put32(b, h + 24, 0xFFFFFFFE);
    v.add("absurd record size", b);
  }
  {  // a local header moved
    Bytes b = pristine;
    size_t h = z.central_headers[5];
    put32(b, h + 42, get32(b, h + 42) + 7);
    v.add("local header offset off by 7", b);
  }
  expect_all_format_errors(v);
  EXPECT_GE(v.items.size(), 50u);
  EXPECT_LT(max_rss_mb(), 4096) << "a damaged file made the reader allocate absurd memory";
}

TEST(IoDamagedFiles, Zip64VariantsRaiseFormatError) {
  // A small archive written with ZIP64 records, damaged in the 64-bit fields.
  auto path = temp_file("zip64.pt");
  viscpm::io::save_torch_zip_with(path, {{"a", at::arange(100, at::kFloat)}, {"b", at::ones({3, 3}, at::kHalf)}}, true);
  Bytes pristine = slurp(path);
  std::string message;
  ASSERT_EQ(try_load(pristine, &message), Verdict::kReadable) << message;
  size_t eocd64 = pristine.rfind(std::string("PK\x06\x06", 4));
  size_t locator = pristine.rfind(std::string("PK\x06\x07", 4));
  size_t central = pristine.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(eocd64, Bytes::npos);
  Variants v;
  Bytes b = pristine;
  put64(b, eocd64 + 32, uint64_t(1) << 60);
  v.add("ZIP64 entry count 2^60", b);
  b = pristine;
  put64(b, eocd64 + 40, uint64_t(1) << 62);
  v.add("ZIP64 directory size 2^62", b);
  b = pristine;
  put64(b, eocd64 + 48, ~uint64_t(0) - 5);
  v.add("ZIP64 directory offset near 2^64", b);
  b = pristine;
  put64(b, locator + 8, ~uint64_t(0));
  v.add("ZIP64 locator offset", b);
  b = pristine;
  b[eocd64] = 'X';
  v.add("ZIP64 end record signature", b);
  // The ZIP64 extra field of the first entry: sizes, then local header offset.
  uint16_t name_len;
  std::memcpy(&name_len, &pristine[central + 28], 2);
  size_t extra = central + 46 + name_len;
  b = pristine;
  put64(b, extra + 4, uint64_t(1) << 62);
  put64(b, extra + 12, uint64_t(1) << 62);
  v.add("ZIP64 entry size 2^62", b);
  b = pristine;
  put64(b, extra + 20, ~uint64_t(0) - 100);
  v.add("ZIP64 local offset near 2^64", b);
  b = pristine;
  b[extra + 2] = 8;  // the field shrinks: no room for both sizes and the offset
  v.add("ZIP64 field too short", b);
  expect_all_format_errors(v);
}

// ---- safetensors ----------------------------------------------------------------------------

struct Safetensors {
  nlohmann::ordered_json header;
  Bytes data;
  static Safetensors parse(const Bytes& bytes) {
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    return {nlohmann::ordered_json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
  }
  Bytes build() const { return build_raw(header.dump()); }
  Bytes build_raw(const std::string& text) const {
    Bytes out(8, '\0');
    put64(out, 0, text.size());
    return out + text + data;
  }
};

TEST(IoDamagedFiles, SafetensorsVariantsRaiseFormatError) {
  auto path = viscpm::testing::fixtures_dir() /
              "models/paint/stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors";
  Bytes pristine = slurp(path);
  std::string message;
  ASSERT_EQ(try_load(pristine, &message), Verdict::kReadable) << message;
  Safetensors st = Safetensors::parse(pristine);
  ASSERT_EQ(try_load(st.build(), &message), Verdict::kReadable) << message;
  std::string first, second;  // the first two tensors of the header
  for (const auto& [k, val] : st.header.items()) {
    if (k == "__metadata__") continue;
    (first.empty() ? first : second) = k;
    if (!second.empty()) break;
  }
  std::mt19937 rng(99);
  Variants v;
  for (int i = 0; i < 10; ++i) {
    size_t cut = std::uniform_int_distribution<size_t>(1, pristine.size() - 1)(rng);
    v.add("truncated at " + std::to_string(cut), pristine.substr(0, cut));
  }
  auto edit = [&](const std::string& label, const std::function<void(nlohmann::ordered_json&)>& change) {
    Safetensors copy = st;
    change(copy.header);
    v.add(label, copy.build());
  };
  for (const char* dtype : {"F33", "f32", "", "FLOAT", "F32 "})
    edit(std::string("dtype '") + dtype + "'", [&](nlohmann::ordered_json& h) { h[first]["dtype"] = dtype; });
  edit("dtype not a string", [&](nlohmann::ordered_json& h) { h[first]["dtype"] = 32; });
  edit("dtype of another size", [&](nlohmann::ordered_json& h) { h[first]["dtype"] = "F16"; });
  edit("overlapping offsets", [&](nlohmann::ordered_json& h) {
    auto& o = h[second]["data_offsets"];
    o = {o[0].get<uint64_t>() - 4, o[1].get<uint64_t>() - 4};
  });
  edit("two tensors on the same bytes", [&](nlohmann::ordered_json& h) { h[second] = h[first]; });
  edit("reversed offsets", [&](nlohmann::ordered_json& h) {
    auto& o = h[first]["data_offsets"];
    o = {o[1], o[0]};
  });
  edit("offsets past the buffer", [&](nlohmann::ordered_json& h) { h[first]["data_offsets"] = {uint64_t(1) << 60, (uint64_t(1) << 60) + 4}; });
  edit("three offsets", [&](nlohmann::ordered_json& h) { h[first]["data_offsets"].push_back(0); });
  edit("absurd shape", [&](nlohmann::ordered_json& h) { h[first]["shape"] = {int64_t(1) << 40, int64_t(1) << 40, int64_t(1) << 40}; });
  edit("negative dimension", [&](nlohmann::ordered_json& h) { h[first]["shape"] = {-1, 4}; });
  edit("fractional dimension", [&](nlohmann::ordered_json& h) { h[first]["shape"] = {1.5}; });
  edit("shape not a list", [&](nlohmann::ordered_json& h) { h[first]["shape"] = "4"; });
  edit("missing dtype", [&](nlohmann::ordered_json& h) { h[first].erase("dtype"); });
  edit("tensor info not an object", [&](nlohmann::ordered_json& h) { h[first] = 7; });
  edit("metadata value not a string", [&](nlohmann::ordered_json& h) { h["__metadata__"] = {{"format", 1}}; });
  edit("hole in the buffer", [&](nlohmann::ordered_json& h) { h.erase(first); });
  {
    Safetensors copy = st;
    copy.data += "trailing";
    v.add("bytes after the last tensor", copy.build());
  }
  v.add("header is a list", st.build_raw("[1, 2, 3]"));
  v.add("header JSON cut short", st.build_raw(st.header.dump().substr(0, 200)));
  v.add("invalid UTF-8 in a name", st.build_raw("{\"\xff\xfe\": " + st.header[first].dump() + "}"));
  auto with_length = [&](uint64_t n) {
    Bytes b = pristine;
    put64(b, 0, n);
    return b;
  };
  uint64_t n;
  std::memcpy(&n, pristine.data(), 8);
  v.add("header length 0", with_length(0));
  v.add("header length past the file", with_length(pristine.size()));
  v.add("header length 2^63", with_length(uint64_t(1) << 63));
  v.add("header length 200 MB", with_length(200'000'000));
  v.add("header length one short", with_length(n - 1));
  v.add("header length one long", with_length(n + 1));
  v.add("header length into the data", with_length(n + 4096));
  expect_all_format_errors(v);
  EXPECT_GE(v.items.size(), 40u);
}

// ---- fuzz: random damage may leave a file valid, but may never escape as another error ------

TEST(IoDamagedFiles, RandomFlipsGiveFormatErrorOrAValidFile) {
  auto path = viscpm::testing::fixtures_dir() / "models/chat/viscpm_chat.pt";
  Bytes pristine = slurp(path);
  ZipLayout z = layout_of(path, pristine);
  Bytes pickle = pristine.substr(z.pickle_offset, z.pickle_size);
  std::mt19937 rng(7);
  int format_errors = 0, readable = 0;
  auto check = [&](const std::string& label, const Bytes& bytes) {
    std::string message;
    Verdict v = try_load(bytes, &message);
    EXPECT_NE(v, Verdict::kOtherError) << label << ": " << message;
    (v == Verdict::kFormatError ? format_errors : readable) += 1;
  };
  for (int i = 0; i < 150; ++i) {  // pickle damage behind a valid CRC
    Bytes p = pickle;
    int flips = 1 + int(rng() % 3);
    for (int k = 0; k < flips; ++k) p[rng() % p.size()] = char(rng() % 256);
    check("pickle fuzz " + std::to_string(i), with_pickle(pristine, z, p));
  }
  for (int i = 0; i < 60; ++i) {  // anywhere in the file
    Bytes b = pristine;
    size_t at = rng() % b.size();
    b[at] = char(b[at] ^ (1 + rng() % 255));
    check("file flip at " + std::to_string(at), b);
  }
  Bytes st = slurp(viscpm::testing::fixtures_dir() /
                   "models/paint/stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors");
  uint64_t header_len;
  std::memcpy(&header_len, st.data(), 8);
  for (int i = 0; i < 80; ++i) {  // safetensors header bytes
    Bytes b = st;
    size_t at = 8 + rng() % header_len;
    b[at] = char(rng() % 256);
    check("safetensors header byte " + std::to_string(at), b);
  }
  EXPECT_GT(format_errors, 150);
  EXPECT_LT(max_rss_mb(), 4096);
}

}  // namespace
