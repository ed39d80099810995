// Both writers round-trip through both readers (views, shared storages, every dtype,
// zero-dim and empty tensors), and torch 1.13 (python) agrees with our zip files both ways.
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/linspace.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include "common/error.h"
#include "io/crc32.h"
#include "io/tensor_source.h"
#include "io/writers_internal.h"
#include "test_support.h"
#include <unistd.h>

namespace {

using viscpm::io::TensorSource;
using Named = std::vector<std::pair<std::string, at::Tensor>>;

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("io_roundtrip_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Mirrored by expected() in the python script below: keep the two in step.
Named sample_tensors() {
  at::Tensor base = at::arange(24, at::kFloat).reshape({2, 3, 4}) * 0.25;
  at::Tensor shared = at::arange(12, at::kFloat).reshape({3, 4}) - 5;
  return {
      {"f32", base},
      {"f32.transposed", base.transpose(0, 2)},
      {"f32.narrowed", base.select(0, 1).narrow(1, 1, 2)},
      {"shared.a", shared.select(0, 2)},
      {"shared.b", shared.t()},
      {"expanded", at::tensor({1.5, -2.0}, at::kFloat).unsqueeze(1).expand({2, 3})},
      {"f16", (at::arange(10, at::kFloat) / 7).to(at::kHalf)},
      {"bf16", (at::arange(10, at::kFloat) / 3).to(at::kBFloat16)},
      {"f64", at::arange(5, at::kDouble) / 9},
      {"i64", at::arange(5, at::kLong) * (int64_t(1) << 40)},
      {"i32", at::arange(-3, 3, at::kInt)},
      {"i16", at::arange(-3, 3, at::kShort)},
      {"i8", at::arange(-3, 3, at::kChar)},
      {"u8", at::arange(250, 256, at::kLong).to(at::kByte)},
      {"bool", at::tensor({1, 0, 1}, at::kLong).to(at::kBool)},
      {"scalar", at::scalar_tensor(3.5, at::kFloat)},
      {"empty", at::zeros({0, 5}, at::kFloat)},
      {"empty1d", at::zeros({0}, at::kHalf)},
  };
}

void expect_same(const Named& written, const TensorSource& source) {
  ASSERT_EQ(source.entries().size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    const auto& [name, tensor] = written[i];
    const auto& entry = source.entries()[i];
    EXPECT_EQ(entry.name, name);  // file order = written order
    at::Tensor back = source.read(entry);
    EXPECT_EQ(back.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), tensor.sizes()) << name;
    EXPECT_TRUE(back.is_contiguous()) << name;
    EXPECT_TRUE(at::equal(back, tensor)) << name;
  }
}

TEST(IoRoundTrip, TorchZip) {
  for (bool zip64 : {false, true}) {
    auto path = temp_dir() / (zip64 ? "sample64.pt" : "sample.pt");
    viscpm::io::save_torch_zip_with(path, sample_tensors(), zip64);
    auto source = TensorSource::open(path);
    EXPECT_EQ(source->format(), viscpm::io::SourceFormat::kTorchZip);
    EXPECT_EQ(source->container_type(), "OrderedDict");
    expect_same(sample_tensors(), *source);
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".partial"));
  }
}

TEST(IoRoundTrip, Safetensors) {
  auto path = temp_dir() / "sample.safetensors";
  viscpm::io::save_safetensors(path, sample_tensors(), {{"format", "pt"}});
  std::ifstream in(path, std::ios::binary);
  uint64_t header = 0;
  in.read(reinterpret_cast<char*>(&header), 8);
  EXPECT_EQ((8 + header) % 8, 0u);
  auto source = TensorSource::open(path);
  EXPECT_EQ(source->format(), viscpm::io::SourceFormat::kSafetensors);
  expect_same(sample_tensors(), *source);
  // Extra types safetensors has and torch storages lack.
  Named extra{{"u16", at::arange(4, at::kInt).to(at::kUInt16)}};
  viscpm::io::save_safetensors(path, extra);
  EXPECT_EQ(TensorSource::open(path)->entries().front().dtype, at::kUInt16);
  viscpm::io::save_safetensors(path, {});
  EXPECT_TRUE(TensorSource::open(path)->entries().empty());
}

TEST(IoRoundTrip, ConversionsOnRead) {
  auto path = temp_dir() / "convert.safetensors";
  at::Tensor x = at::linspace(-3, 3, 1001, at::kFloat) / 3;
  viscpm::io::save_safetensors(path, {{"x", x}});
  auto source = TensorSource::open(path);
  EXPECT_TRUE(at::equal(source->read("x", at::kHalf), x.to(at::kHalf)));
  EXPECT_TRUE(at::equal(source->read("x", at::kBFloat16), x.to(at::kBFloat16)));
  EXPECT_TRUE(at::equal(source->read("x", at::kDouble), x.to(at::kDouble)));
}

TEST(IoRoundTrip, SafetensorsFromOtherWriters) {
  // An unpadded header (data not 8-byte aligned), keys out of data order, and bool bytes
  // other than 0/1, as a foreign writer might produce them.
  std::string header =
      R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]},"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})";
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  std::memcpy(&bytes[0], &n, 8);
  bytes += header;
  double values[2] = {0.125, -3.5};
  bytes.append(reinterpret_cast<const char*>(values), 16);
  bytes += std::string("\x00\x02\x01", 3);
  ASSERT_NE((8 + n) % 8, 0u);
  auto path = temp_dir() / "foreign.safetensors";
  std::ofstream(path, std::ios::binary) << bytes;
  auto source = TensorSource::open(path);
  EXPECT_EQ(source->entries()[0].name, "b");  // header order
  EXPECT_TRUE(at::equal(source->read("a"), at::tensor({0.125, -3.5}, at::kDouble)));
  EXPECT_TRUE(at::equal(source->read("b"), at::tensor({0, 1, 1}, at::kLong).to(at::kBool)));
  EXPECT_TRUE(at::equal(source->read("a", at::kFloat), at::tensor({0.125, -3.5}, at::kFloat)));
}

TEST(IoRoundTrip, Crc32SlicesCombine) {
  EXPECT_EQ(viscpm::io::crc32("123456789", 9), 0xCBF43926u);  // the standard check value
  std::vector<uint8_t> data(50u << 20);
  std::mt19937 rng(5);
  for (auto& b : data) b = uint8_t(rng());
  uint32_t whole = viscpm::io::crc32(data.data(), data.size());
  for (size_t split : {size_t(0), size_t(1), size_t(12345), data.size() - 3, data.size()}) {
    uint32_t a = viscpm::io::crc32(data.data(), split), b = viscpm::io::crc32(data.data() + split, data.size() - split);
    EXPECT_EQ(viscpm::io::crc32_combine(a, b, data.size() - split), whole) << split;
  }
  // From a file, in parallel 16 MB slices: whole, and a range that starts and ends mid-slice.
  auto path = temp_dir() / "crc.bin";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  viscpm::io::FileReader file(path);
  EXPECT_EQ(viscpm::io::crc32_of_range(file, 0, data.size()), whole);
  uint64_t begin = 12345, length = data.size() - begin - 3;
  EXPECT_EQ(viscpm::io::crc32_of_range(file, begin, length), viscpm::io::crc32(data.data() + begin, length));
}

TEST(IoRoundTrip, WritersRejectBadInput) {
  auto path = temp_dir() / "bad.pt";
  using viscpm::InvalidArgument;
  EXPECT_THROW(viscpm::io::save_torch_zip(path, {{"a", at::zeros({1})}, {"a", at::zeros({1})}}), InvalidArgument);
  EXPECT_THROW(viscpm::io::save_torch_zip(path, {{"", at::zeros({1})}}), InvalidArgument);
  EXPECT_THROW(viscpm::io::save_torch_zip(path, {{"a", at::Tensor()}}), InvalidArgument);
  EXPECT_THROW(viscpm::io::save_torch_zip(path, {{"c", at::zeros({2}, at::kComplexFloat)}}), InvalidArgument);
  EXPECT_THROW(viscpm::io::save_safetensors(path, {{"c", at::zeros({2}, at::kComplexFloat)}}), InvalidArgument);
  EXPECT_THROW(viscpm::io::save_safetensors(path, {{"__metadata__", at::zeros({2})}}), InvalidArgument);
  EXPECT_THROW(viscpm::io::save_torch_zip(temp_dir() / "no_such_dir" / "x.pt", {{"a", at::zeros({1})}}), viscpm::IoError);
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---- python torch 1.13 interop ------------------------------------------------------------

const char* kPythonScript = R"PY(
import collections, sys, torch
src, dst = sys.argv[1], sys.argv[2]

def expected():
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.25
    shared = torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5
    return collections.OrderedDict([
        ("f32", base), ("f32.transposed", base.transpose(0, 2)), ("f32.narrowed", base[1, :, 1:3]),
        ("shared.a", shared[2]), ("shared.b", shared.t()),
        ("expanded", torch.tensor([1.5, -2.0])[:, None].expand(2, 3)),
        ("f16", (torch.arange(10, dtype=torch.float32) / 7).half()),
        ("bf16", (torch.arange(10, dtype=torch.float32) / 3).bfloat16()),
        ("f64", torch.arange(5, dtype=torch.float64) / 9),
        ("i64", torch.arange(5, dtype=torch.int64) * (1 << 40)),
        ("i32", torch.arange(-3, 3, dtype=torch.int32)), ("i16", torch.arange(-3, 3, dtype=torch.int16)),
        ("i8", torch.arange(-3, 3, dtype=torch.int8)), ("u8", torch.arange(250, 256).to(torch.uint8)),
        ("bool", torch.tensor([True, False, True])), ("scalar", torch.tensor(3.5)),
        ("empty", torch.zeros(0, 5)), ("empty1d", torch.zeros(0, dtype=torch.float16)),
    ])

got, exp = torch.load(src), expected()
assert list(got.keys()) == list(exp.keys()), list(got.keys())
for k, v in exp.items():
    g = got[k]
    assert g.dtype == v.dtype and g.shape == v.shape and torch.equal(g, v), k

# Views sharing storages, a Parameter and a module state dict (with _metadata) for the reader.
base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5) / 8
out = collections.OrderedDict()
out["base"] = base
out["transposed"] = base.transpose(0, 2)
out["narrowed"] = base[1:, 2:]
out["row"] = base[2, 1]
out["expanded"] = torch.tensor([1.5, -2.0], dtype=torch.float16)[:, None].expand(2, 7)
out["param"] = torch.nn.Parameter(torch.full((2, 2), 0.5))
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3))
    lin.bias.fill_(-1)
for k, v in lin.state_dict().items():
    out["lin." + k] = v
torch.save(out, dst)
)PY";

bool python_torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

TEST(IoRoundTrip, PythonTorchLoadsOurZipAndWeReadItsViews) {
  if (!python_torch_available()) GTEST_SKIP() << "/usr/bin/python3 with torch not available";
  auto dir = temp_dir();
  auto ours = dir / "for_python.pt", theirs = dir / "from_python.pt", script = dir / "interop.py";
  viscpm::io::save_torch_zip(ours, sample_tensors());
  std::ofstream(script) << kPythonScript;
  std::string cmd = "/usr/bin/python3 " + script.string() + " " + ours.string() + " " + theirs.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "python torch.load rejected or misread our archive";

  auto source = TensorSource::open(theirs);
  at::Tensor base = at::arange(60, at::kFloat).reshape({3, 4, 5}) / 8;
  EXPECT_TRUE(at::equal(source->read("base"), base));
  EXPECT_TRUE(at::equal(source->read("transposed"), base.transpose(0, 2)));
  EXPECT_TRUE(at::equal(source->read("narrowed"), base.narrow(0, 1, 2).narrow(1, 2, 2)));
  EXPECT_TRUE(at::equal(source->read("row"), base[2][1]));
  EXPECT_TRUE(at::equal(source->read("expanded"),
                        at::tensor({1.5, -2.0}, at::kFloat).to(at::kHalf).unsqueeze(1).expand({2, 7})));
  EXPECT_TRUE(at::equal(source->read("param"), at::full({2, 2}, 0.5)));
  EXPECT_TRUE(at::equal(source->read("lin.weight"), at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(at::equal(source->read("lin.bias"), at::full({2}, -1.0)));
  // Views keep their storage, offset and strides.
  const auto& row = source->at("row");
  EXPECT_EQ(row.storage_key, source->at("base").storage_key);
  EXPECT_EQ(row.storage_offset, 2 * 20 + 1 * 5);
  EXPECT_EQ(source->at("transposed").strides, (std::vector<int64_t>{1, 5, 20}));
  EXPECT_FALSE(source->at("transposed").contiguous());
  EXPECT_EQ(source->at("expanded").strides, (std::vector<int64_t>{1, 0}));
}

}  // namespace
