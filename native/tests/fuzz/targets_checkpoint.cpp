// Checkpoint targets: torch.save zip archives (raw bytes, and CRC-keeping so the pickle is
// reached), the data.pkl unpickler alone, and safetensors.
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "io/state_dict_pickle.h"
#include "io/tensor_source.h"
#include "io/writers_internal.h"
#include "mutator.h"
#include "targets.h"
#include "zip_edit.h"

namespace viscpm::fuzz {
namespace {

using namespace std::string_literals;

Context g_context;
std::filesystem::path g_zip_file, g_zip_crc_file, g_safetensors_file;

const char* const kCheckpoints[] = {"models/chat/viscpm_chat.pt", "models/chat/viscpm_chat_extra_keys.pt",
                                    "models/paint/viscpm_paint.pt"};

// Opens the file as the runtime does and reads every tensor; checks what the reader
// promises of each result (fresh tensor of the declared shape and dtype).
void load_everything(const std::filesystem::path& path) {
  auto source = viscpm::io::TensorSource::open(path);
  (void)source->container_type();
  size_t i = 0;
  for (const auto& e : source->entries()) {
    if (source->find(e.name) != &e) oracle_failed("find('" + e.name + "') does not return its own entry");
    at::Tensor t = source->read(e);
    if (t.sizes() != at::IntArrayRef(e.shape) || t.scalar_type() != e.dtype || !t.is_contiguous())
      oracle_failed("read('" + e.name + "') returned a tensor unlike its entry");
    if (i++ < 3) {  // conversion and read_into on the first few
      at::Tensor f = source->read(e, at::kFloat);
      at::Tensor into = at::empty(e.shape, at::kFloat);
      source->read_into(e, into);
      if (f.sizes() != into.sizes()) oracle_failed("read and read_into disagree on '" + e.name + "'");
    }
  }
}

// ---- seeds ---------------------------------------------------------------------------------

// Small torch.save archives: a few tensors of each fixture checkpoint (every dimension cut
// to at most 3) and one tensor of every storage dtype, written by the runtime's writer.
std::vector<Bytes> small_zip_seeds(const Context& context) {
  std::vector<Bytes> out;
  auto path = context.scratch / "seed.pt";
  auto save = [&](const std::vector<std::pair<std::string, at::Tensor>>& tensors, bool zip64 = false) {
    viscpm::io::save_torch_zip_with(path, tensors, zip64);
    out.push_back(read_bytes(path));
  };
  for (const char* checkpoint : kCheckpoints) {
    auto source = viscpm::io::TensorSource::open(fixture(context, checkpoint));
    std::vector<std::pair<std::string, at::Tensor>> picked;
    const auto& entries = source->entries();
    size_t stride = std::max<size_t>(1, entries.size() / 10);
    for (size_t i = 0; i < entries.size(); i += stride) {
      at::Tensor t = source->read(entries[i]);
      for (int64_t d = 0; d < t.dim(); ++d) t = t.slice(d, 0, std::min<int64_t>(t.size(d), 3));
      picked.emplace_back(entries[i].name, t.contiguous());
    }
    save(picked);
  }
  std::vector<std::pair<std::string, at::Tensor>> dtypes;
  for (auto type : {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble, at::kLong, at::kInt, at::kShort, at::kChar,
                    at::kByte, at::kBool})
    dtypes.emplace_back(std::string("t_") + c10::toString(type), at::arange(6, at::kFloat).reshape({2, 3}).to(type));
  save(dtypes);
  save({{"scalar", at::ones({}, at::kFloat)}, {"empty", at::zeros({0, 4}, at::kHalf)}, {"row", at::ones({1, 5})}});
  save({{"a", at::arange(10, at::kFloat)}, {"b", at::ones({3, 3}, at::kHalf)}}, /*zip64=*/true);
  return out;
}

// A torch.save pickle of one float tensor viewing storage "0" (of `storage_numel`
// elements) with the given shape, strides and offset: views torch writes for expanded,
// transposed or sliced tensors, which the runtime's own writer never produces.
Bytes view_pickle(int64_t storage_numel, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  int64_t offset) {
  auto str = [](const std::string& s) {
    Bytes b = "X";
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
    return b + s;
  };
  auto integer = [](int64_t v) {  // BININT (4-byte signed)
    Bytes b = "J";
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
    return b;
  };
  auto tuple = [&](const std::vector<int64_t>& values) {
    Bytes b = "(";
    for (int64_t v : values) b += integer(v);
    return b + "t";
  };
  Bytes p = "\x80\x02"s + "ccollections\nOrderedDict\n)R" + str("view") + "ctorch._utils\n_rebuild_tensor_v2\n(";
  p += "(" + str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + integer(storage_numel) + "tQ";
  p += integer(offset) + tuple(shape) + tuple(strides) + "\x89" + "ccollections\nOrderedDict\n)R" + "tRs.";
  return p;
}

std::vector<Bytes> view_seeds() {
  std::vector<Bytes> out;
  struct View {
    int64_t numel;
    std::vector<int64_t> shape, strides;
    int64_t offset;
  };
  for (const View& v : {View{1, {4}, {0}, 0}, View{6, {3, 2}, {1, 3}, 0}, View{12, {2, 2}, {6, 2}, 3},
                        View{3, {2, 3}, {0, 1}, 0}, View{4, {}, {}, 2}, View{4, {0, 5}, {5, 1}, 4}}) {
    Bytes storage(static_cast<size_t>(v.numel) * 4, '\0');
    for (int64_t i = 0; i < v.numel; ++i) storage[static_cast<size_t>(i) * 4 + 3] = 0x3f;  // 0.5f
    out.push_back(join_zip({{"archive/data.pkl", view_pickle(v.numel, v.shape, v.strides, v.offset)},
                            {"archive/data/0", storage},
                            {"archive/version", "3\n"}}));
  }
  return out;
}

std::vector<Bytes> zip_seeds(const Context& context) {
  std::vector<Bytes> out = small_zip_seeds(context);
  for (Bytes& b : view_seeds()) out.push_back(std::move(b));
  for (const char* checkpoint : kCheckpoints) out.push_back(read_bytes(fixture(context, checkpoint)));
  return out;
}

std::vector<Bytes> pickle_seeds(const Context& context) {
  std::vector<Bytes> out;
  for (const Bytes& zip : zip_seeds(context)) {
    std::vector<ZipEntry> entries;
    if (!split_zip(zip, entries)) throw HarnessError("a seed archive does not split");
    for (const auto& e : entries)
      if (e.name.size() > 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0) out.push_back(e.data);
  }
  return out;
}

std::vector<Bytes> pickle_dictionary() {
  return {"\x80\x02"s, "}q\x00"s, "(X"s, "X\x07\x00\x00\x00storage"s, "ccollections\nOrderedDict\n"s,
          "ctorch._utils\n_rebuild_tensor_v2\n"s, "ctorch\nFloatStorage\n"s, "ctorch\nHalfStorage\n"s,
          "ctorch\nBFloat16Storage\n"s, "ctorch\nLongStorage\n"s, "ctorch\nBoolStorage\n"s,
          "ctorch._utils\n_rebuild_parameter\n"s, "cposix\nsystem\n"s, "X\x03\x00\x00\x00" "cpu"s, "K\x00"s, "K\xff"s,
          "M\xff\xff"s, "J\xff\xff\xff\x7f"s, "J\x00\x00\x00\x80"s, "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"s,
          "\x8a\x01\x00"s, "q\x01"s, "h\x01"s, "r\xff\xff\xff\xff"s, "j\x00\x00\x00\x00"s, "t"s, "\x85"s, "\x86"s, "\x87"s,
          ")"s, "R"s, "b"s, "u"s, "s"s, "e"s, "a"s, "("s, "]"s, "}"s, "N"s, "\x88"s, "\x89"s, "."s, "0"s, "1"s, "2"s, "Q"s, "\x94"s,
          "\x95\x00\x00\x00\x00\x00\x00\x00\x00"s, "c__builtin__\nset\n"s, "\x8c\x05value"s};
}

std::vector<Bytes> safetensors_seeds(const Context& context) {
  std::vector<Bytes> out;
  out.push_back(read_bytes(fixture(context, "models/paint/stabilityai/stable-diffusion-2-1-base/vae/"
                                            "diffusion_pytorch_model.safetensors")));
  std::vector<std::filesystem::path> files;
  for (const auto& dir : std::filesystem::directory_iterator(context.fixtures / "cases"))
    for (const auto& f : std::filesystem::directory_iterator(dir.path()))
      if (f.path().extension() == ".safetensors") files.push_back(f.path());
  std::sort(files.begin(), files.end());  // deterministic order
  for (const auto& f : files) out.push_back(read_bytes(f));
  auto path = context.scratch / "seed.safetensors";
  std::vector<std::pair<std::string, at::Tensor>> dtypes;
  for (auto type : {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble, at::kLong, at::kInt, at::kShort, at::kChar,
                    at::kByte, at::kBool})
    dtypes.emplace_back(std::string("t_") + c10::toString(type), at::arange(6, at::kFloat).reshape({2, 3}).to(type));
  dtypes.emplace_back("scalar", at::ones({}, at::kFloat));
  dtypes.emplace_back("empty", at::zeros({0, 3}, at::kFloat));
  viscpm::io::save_safetensors(path, dtypes, {{"format", "pt"}});
  out.push_back(read_bytes(path));
  return out;
}

std::vector<Bytes> json_dictionary() {
  return {"{"s, "}"s, "["s, "]"s, "\""s, ":"s, ","s, "null"s, "true"s, "false"s, "0"s, "-1"s, "1e400"s, "18446744073709551615"s,
          "9223372036854775808"s, "\"dtype\""s, "\"shape\""s, "\"data_offsets\""s, "\"__metadata__\""s, "\"F32\""s,
          "\"F16\""s, "\"BF16\""s, "\"I64\""s, "\"BOOL\""s, "\"U8\""s, "\"F8_E4M3\""s, "[]"s, "{}"s, "\\u0000"s, "\\ud800"s,
          "\xff"s, "\xc0\x80"s};
}

// ---- structure-aware mutations -------------------------------------------------------------

// CRC-keeping: mutate one record (usually data.pkl), then write the archive again with
// sizes, offsets and CRCs that agree.
void mutate_zip_record(Bytes& input, size_t max_len, Mutator& m) {
  std::vector<ZipEntry> entries;
  if (!split_zip(input, entries) || entries.empty()) {
    m.mutate(input, max_len);
    return;
  }
  size_t pickle = entries.size();
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].name.size() > 8 && entries[i].name.compare(entries[i].name.size() - 8, 8, "data.pkl") == 0) pickle = i;
  unsigned roll = static_cast<unsigned>(m.below(100));
  if (roll < 70 && pickle < entries.size()) {
    m.mutate(entries[pickle].data, std::max<size_t>(entries[pickle].data.size() + 256, 4096));
  } else if (roll < 85) {  // a storage (or version) record: sizes that disagree with the pickle
    ZipEntry& e = entries[m.below(entries.size())];
    m.mutate(e.data, e.data.size() + 64);
  } else if (roll < 93) {  // a record name
    ZipEntry& e = entries[m.below(entries.size())];
    m.mutate(e.name, e.name.size() + 8);
  } else {  // the record list: drop, duplicate or swap
    size_t a = m.below(entries.size()), b = m.below(entries.size());
    switch (m.below(3)) {
      case 0: entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(a)); break;
      case 1: entries.push_back(entries[a]); break;
      default: std::swap(entries[a], entries[b]); break;
    }
  }
  input = join_zip(entries);
}

// safetensors: edit the JSON header as JSON (offsets, shapes, dtypes, entries), its bytes,
// the length prefix, or the data buffer.
void mutate_safetensors(Bytes& input, size_t max_len, Mutator& m) {
  if (input.size() < 8) {
    m.mutate(input, max_len);
    return;
  }
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<uint8_t>(input[i])) << (8 * i);
  if (n > input.size() - 8) {
    m.mutate(input, max_len);
    return;
  }
  std::string header = input.substr(8, n);
  Bytes data = input.substr(8 + n);
  unsigned roll = static_cast<unsigned>(m.below(100));
  if (roll < 45) {  // as JSON
    auto json = nlohmann::ordered_json::parse(header, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object() || json.empty()) {
      m.mutate(header, header.size() + 64);
    } else {
      auto it = json.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(m.below(json.size())));
      nlohmann::ordered_json& info = it.value();
      auto number = [&]() -> nlohmann::ordered_json {
        switch (m.below(5)) {
          case 0: return -static_cast<int64_t>(m.below(1000));
          case 1: return 0.5 + static_cast<double>(m.below(100));
          case 2: return std::to_string(m.below(100));
          case 3: return static_cast<uint64_t>(data.size() + m.below(3)) - 1;
          default: return m.interesting_integer(data.size());
        }
      };
      static const char* const kDtypes[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL",
                                            "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "C64", "", "f32", "F3"};
      switch (m.below(9)) {
        case 0:
        case 1:
          if (info.is_object() && info.contains("data_offsets") && info["data_offsets"].is_array() &&
              !info["data_offsets"].empty())
            info["data_offsets"][m.below(info["data_offsets"].size())] = number();
          break;
        case 2:
          if (info.is_object() && info.contains("data_offsets") && info["data_offsets"].size() == 2 &&
              info["data_offsets"][0].is_number_unsigned() && info["data_offsets"][1].is_number_unsigned()) {
            uint64_t shift = 1 + m.below(8);
            for (auto& o : info["data_offsets"]) o = o.get<uint64_t>() + shift;
          }
          break;
        case 3:
          if (info.is_object() && info.contains("shape") && info["shape"].is_array()) {
            auto& shape = info["shape"];
            switch (m.below(3)) {
              case 0:
                if (!shape.empty()) shape[m.below(shape.size())] = number();
                break;
              case 1: shape.push_back(m.percent(50) ? nlohmann::ordered_json(1) : number()); break;
              default:
                if (!shape.empty()) shape.erase(shape.size() - 1);
                break;
            }
          }
          break;
        case 4:
          if (info.is_object()) info["dtype"] = kDtypes[m.below(sizeof kDtypes / sizeof *kDtypes)];
          break;
        case 5: {  // another entry's info: two tensors on the same bytes
          auto other = json.begin();
          std::advance(other, static_cast<std::ptrdiff_t>(m.below(json.size())));
          info = nlohmann::ordered_json(other.value());
          break;
        }
        case 6: json.erase(it); break;
        case 7: json["__metadata__"] = m.percent(50) ? nlohmann::ordered_json{{"format", m.below(3)}}
                                                       : nlohmann::ordered_json{{"format", "pt"}};
          break;
        default:
          if (info.is_object()) info.erase(info.begin());
          break;
      }
      try {
        header = json.dump();
      } catch (const nlohmann::json::exception&) {  // invalid UTF-8 in a key: keep the bytes
      }
      while (m.percent(90) && header.size() % 8 != 0) header.push_back(' ');
    }
  } else if (roll < 75) {  // the header bytes
    m.mutate(header, header.size() + 64);
  } else if (roll < 85) {  // the data buffer (values, and its length)
    m.mutate(data, data.size() + 64);
  } else {  // anything, the length prefix included
    m.mutate(input, max_len);
    return;
  }
  uint64_t length = header.size();
  if (m.percent(5)) length = m.interesting_integer(header.size());
  Bytes out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  input = out + header + data;
}

// ---- fuzz_one ------------------------------------------------------------------------------

void init_checkpoints(const Context& context) {
  g_context = context;
  g_zip_file = scratch_file(context, "torch_zip", ".pt");
  g_zip_crc_file = scratch_file(context, "torch_zip_crc", ".pt");
  g_safetensors_file = scratch_file(context, "safetensors", ".safetensors");
}

}  // namespace

int fuzz_torch_zip(const uint8_t* data, size_t size) {
  write_bytes(g_zip_file, data, size);
  step([&] { load_everything(g_zip_file); });
  return 0;
}

int fuzz_torch_zip_crc(const uint8_t* data, size_t size) {
  Bytes fixed(reinterpret_cast<const char*>(data), size);
  fix_zip_crcs(fixed);
  write_bytes(g_zip_crc_file, reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size());
  step([&] { load_everything(g_zip_crc_file); });
  return 0;
}

int fuzz_pickle(const uint8_t* data, size_t size) {
  step([&] {
    auto dict = viscpm::io::parse_state_dict_pickle(data, size, "data.pkl");
    for (const auto& t : dict.tensors)
      if (t.shape.size() != t.strides.size()) oracle_failed("tensor '" + t.name + "': shape and strides differ in rank");
  });
  return 0;
}

int fuzz_safetensors(const uint8_t* data, size_t size) {
  write_bytes(g_safetensors_file, data, size);
  step([&] { load_everything(g_safetensors_file); });
  return 0;
}

void add_checkpoint_targets(std::vector<Target>& out) {
  out.push_back({"torch_zip", "torch.save zip archive, raw byte mutations (CRC checks catch data damage)",
                 init_checkpoints, fuzz_torch_zip, zip_seeds, nullptr, 8u << 20, nullptr});
  out.push_back({"torch_zip_crc",
                 "torch.save zip archive, records mutated and CRC-32s rewritten, so the unpickler and the "
                 "storage checks see the damage",
                 init_checkpoints, fuzz_torch_zip_crc, zip_seeds, mutate_zip_record, 8u << 20, pickle_dictionary});
  out.push_back({"pickle", "the data.pkl unpickler alone (parse_state_dict_pickle)", init_checkpoints, fuzz_pickle,
                 pickle_seeds, nullptr, 1u << 20, pickle_dictionary});
  out.push_back({"safetensors", "safetensors file: JSON header (offsets, shapes, dtypes), length prefix, buffer",
                 init_checkpoints, fuzz_safetensors, safetensors_seeds, mutate_safetensors, 2u << 20,
                 json_dictionary});
}

}  // namespace viscpm::fuzz
