// Checkpoint reading and strict module loading on the fixture checkpoints.
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>
#include <c10/core/InferenceMode.h>

#include <ATen/ops/arange.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "testkit/mirror_module.h"
#include "io/tensor_source.h"
#include "test_support.h"
#include <unistd.h>

namespace {

using viscpm::FormatError;
using viscpm::io::LoadOptions;
using viscpm::io::TensorSource;

std::filesystem::path fixture(const std::string& relative) { return viscpm::testing::fixtures_dir() / relative; }
std::filesystem::path chat_pt() { return fixture("models/chat/viscpm_chat.pt"); }
std::filesystem::path chat_extra_pt() { return fixture("models/chat/viscpm_chat_extra_keys.pt"); }

std::vector<std::pair<std::string, std::vector<int64_t>>> keys_of(const TensorSource& s, const std::string& prefix = "",
                                                                  bool strip = false) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> keys;
  for (const auto& e : s.entries())
    if (e.name.rfind(prefix, 0) == 0) keys.emplace_back(strip ? e.name.substr(prefix.size()) : e.name, e.shape);
  return keys;
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "<no FormatError>";
}

TEST(IoCheckpoint, ParityCasesPass) { viscpm::testing::expect_kind_passes("checkpoint"); }

TEST(IoCheckpoint, IndexesTheFixtureFiles) {
  auto chat = TensorSource::open(chat_pt());
  EXPECT_EQ(chat->format(), viscpm::io::SourceFormat::kTorchZip);
  EXPECT_EQ(chat->container_type(), "OrderedDict");
  EXPECT_EQ(chat->entries().front().name, "query");
  EXPECT_EQ(chat->find("nope"), nullptr);
  EXPECT_THROW(chat->at("nope"), FormatError);
  for (const auto& e : chat->entries()) EXPECT_EQ(e.dtype, at::kFloat) << e.name;

  auto paint = TensorSource::open(fixture("models/paint/viscpm_paint.pt"));
  for (const auto& e : paint->entries())
    EXPECT_EQ(e.dtype, e.name.rfind("llm.", 0) == 0 ? at::kHalf : at::kFloat) << e.name;

  auto vae = TensorSource::open(fixture("models/paint/stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors"));
  EXPECT_EQ(vae->format(), viscpm::io::SourceFormat::kSafetensors);
  EXPECT_EQ(vae->container_type(), "safetensors");
  ASSERT_NE(vae->find("decoder.mid_block.attentions.0.query.weight"), nullptr);
  for (const auto& e : vae->entries()) EXPECT_EQ(vae->read(e).sizes(), at::IntArrayRef(e.shape));
}

TEST(IoCheckpoint, ZeroStrideViewsAndConversions) {
  auto f32 = TensorSource::open(chat_pt());
  auto f16 = TensorSource::open(chat_extra_pt());
  const auto& head = f16->at("vpm.mim_head.weight");
  EXPECT_EQ(head.strides, (std::vector<int64_t>{0, 0}));
  EXPECT_FALSE(head.contiguous());
  at::Tensor w = f16->read(head);
  EXPECT_EQ(w.sizes(), (at::IntArrayRef{8192, 1024}));
  EXPECT_TRUE(w.is_contiguous());
  EXPECT_TRUE(at::equal(w, w.flatten()[0].expand_as(w)));

  // fp16 file upcast == fp32 file; fp32 file rounded == at::Tensor::to (nearest even).
  at::Tensor q32 = f32->read("query");
  EXPECT_TRUE(at::equal(f16->read("query", at::kFloat), q32));
  EXPECT_EQ(f16->read("query").scalar_type(), at::kHalf);
  EXPECT_TRUE(at::equal(f32->read("query", at::kHalf), q32.to(at::kHalf)));
  EXPECT_TRUE(at::equal(f32->read("query", at::kBFloat16), q32.to(at::kBFloat16)));
}

TEST(IoCheckpoint, ReadIntoConvertsInPlace) {
  auto f32 = TensorSource::open(chat_pt());
  const auto& q = f32->at("query");
  at::Tensor half = at::zeros(q.shape, at::kHalf);
  f32->read_into(q, half);
  EXPECT_TRUE(at::equal(half, f32->read(q).to(at::kHalf)));

  at::Tensor leaf = at::zeros(q.shape).set_requires_grad(true);  // a parameter outside no_grad
  f32->read_into(q, leaf);
  EXPECT_TRUE(at::equal(leaf.detach(), f32->read(q)));

  at::Tensor inference;
  {
    c10::InferenceMode guard;
    inference = at::zeros(q.shape);
  }
  f32->read_into(q, inference);  // an inference tensor, filled outside inference mode
  EXPECT_TRUE(at::equal(inference, f32->read(q)));

  at::Tensor wrong = at::zeros({q.shape[1], q.shape[0]});
  EXPECT_THROW(f32->read_into(q, wrong), FormatError);
}

TEST(IoCheckpoint, LoadModuleIsStrict) {
  auto source = TensorSource::open(chat_pt());
  auto keys = keys_of(*source);

  auto module = viscpm::io::make_mirror_module(keys, at::kFloat);
  auto report = viscpm::io::load_module(*module, *source, {});
  EXPECT_EQ(report.loaded.size(), source->entries().size());
  EXPECT_TRUE(at::equal(module->parameter("query"), source->read("query")));

  // A prefix selects one component and leaves the others alone.
  auto llm = viscpm::io::make_mirror_module(keys_of(*source, "llm.", true), at::kHalf);
  LoadOptions llm_options;
  llm_options.prefix = "llm.";
  report = viscpm::io::load_module(*llm, *source, llm_options);
  EXPECT_EQ(report.loaded.size(), keys_of(*source, "llm.").size());
  EXPECT_EQ(llm->parameter("input_embedding.weight").scalar_type(), at::kHalf);

  // Missing key: named, and nothing is copied.
  auto extra = keys;
  extra.emplace_back("llm.not_in_file", std::vector<int64_t>{3});
  auto missing = viscpm::io::make_mirror_module(extra, at::kFloat);
  std::string msg = error_message([&] { viscpm::io::load_module(*missing, *source, {}); });
  EXPECT_NE(msg.find("missing keys (1)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("llm.not_in_file"), std::string::npos) << msg;
  EXPECT_EQ(missing->parameter("query").abs().sum().item<double>(), 0.0);

  // Wrong shape: key and both shapes.
  auto reshaped = keys;
  reshaped[0].second = {64, 31};
  auto bad_shape = viscpm::io::make_mirror_module(reshaped, at::kFloat);
  msg = error_message([&] { viscpm::io::load_module(*bad_shape, *source, {}); });
  EXPECT_NE(msg.find("query: checkpoint has [64, 32], the model expects [64, 31]"), std::string::npos) << msg;

  // Unknown key: an error unless allowed.
  auto fewer = keys;
  fewer.erase(fewer.begin());
  auto partial = viscpm::io::make_mirror_module(fewer, at::kFloat);
  msg = error_message([&] { viscpm::io::load_module(*partial, *source, {}); });
  EXPECT_NE(msg.find("unexpected keys (1)"), std::string::npos) << msg;
  LoadOptions lenient;
  lenient.allow_unknown = true;
  report = viscpm::io::load_module(*partial, *source, lenient);
  EXPECT_EQ(report.unknown, std::vector<std::string>{"query"});
}

TEST(IoCheckpoint, IgnoredPrefixesSkipTheUnusedHead) {
  auto reference = TensorSource::open(chat_pt());
  auto source = TensorSource::open(chat_extra_pt());
  auto module = viscpm::io::make_mirror_module(keys_of(*reference), at::kFloat);
  EXPECT_THROW(viscpm::io::load_module(*module, *source, {}), FormatError);
  LoadOptions options;
  options.ignored_prefixes = {"vpm.mim_head."};
  auto report = viscpm::io::load_module(*module, *source, options);
  EXPECT_EQ(report.ignored, (std::vector<std::string>{"vpm.mim_head.weight", "vpm.mim_head.bias"}));
  for (const auto& item : module->named_parameters())
    EXPECT_TRUE(at::equal(item.value(), reference->read(item.key()))) << item.key();
}

TEST(IoCheckpoint, OpenReportsTypedErrors) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("io_checkpoint_errors_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_THROW(TensorSource::open(dir / "missing.pt"), viscpm::NotFound);
  EXPECT_THROW(TensorSource::open(dir), viscpm::InvalidArgument);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return dir / name;
  };
  EXPECT_THROW(TensorSource::open(write("empty.pt", "")), FormatError);
  EXPECT_THROW(TensorSource::open(write("text.pt", "hello, I am not a checkpoint")), FormatError);
  // The pickled magic number that starts every pre-1.6 torch.save file.
  std::string legacy = std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) + "\x80\x02}q\x00.";
  try {
    TensorSource::open(write("legacy.pt", legacy));
    ADD_FAILURE() << "legacy file accepted";
  } catch (const viscpm::Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("PyTorch >= 1.6"), std::string::npos) << e.what();
  }
  viscpm::io::OpenOptions unchecked;
  unchecked.verify_checksums = false;
  EXPECT_EQ(TensorSource::open(chat_pt(), unchecked)->entries().size(), TensorSource::open(chat_pt())->entries().size());
}

// A file changed on disk while open: an IoError naming it, never SIGBUS (the readers use
// pread, not a memory map) and never a silent mix of old and new bytes.
namespace {
std::vector<std::pair<std::string, at::Tensor>> sample_tensors() {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (int i = 0; i < 4; ++i)  // 1 MB each: truncating at half the file cuts real data
    tensors.emplace_back("w" + std::to_string(i), at::arange(262144, at::kFloat) * float(i + 1));
  return tensors;
}

void expect_changed_on_disk(const std::function<void()>& read, const std::string& what) {
  try {
    read();
    ADD_FAILURE() << what << ": read succeeded";
  } catch (const viscpm::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("changed on disk while open"), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(IoCheckpoint, TruncatedOrRewrittenWhileOpenIsAnIoError) {
  viscpm::testing::ScratchDir dir("io_changed");
  auto tensors = sample_tensors();
  for (std::string name : {"model.pt", "model.safetensors"}) {
    auto path = dir.path / name;
    auto save = [&] {
      if (name == "model.pt") viscpm::io::save_torch_zip(path, tensors);
      else viscpm::io::save_safetensors(path, tensors);
    };
    save();
    auto size = std::filesystem::file_size(path);

    auto source = TensorSource::open(path);
    std::filesystem::resize_file(path, size / 2);  // what `cp smaller.pt model.pt` does first
    expect_changed_on_disk([&] { source->read("w3"); }, name + " truncated");
    at::Tensor target = at::zeros({262144}, at::kDouble);
    expect_changed_on_disk([&] { source->read_into(source->at("w3"), target); }, name + " truncated, read_into");

    save();  // rewritten in place, same size, new modification time
    source = TensorSource::open(path);
    std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now());
    expect_changed_on_disk([&] { source->read("w0"); }, name + " touched");

    // Replaced by rename: the open file keeps its old bytes, which is what a reader wants.
    source = TensorSource::open(path);
    auto fresh = dir.path / ("fresh_" + name);
    if (name == "model.pt") viscpm::io::save_torch_zip(fresh, {{"w0", at::zeros({3})}});
    else viscpm::io::save_safetensors(fresh, {{"w0", at::zeros({3})}});
    std::filesystem::rename(fresh, path);
    EXPECT_TRUE(at::equal(source->read("w2"), tensors[2].second)) << name;
  }
}

TEST(IoCheckpoint, ReadersRacingATruncatingWriterNeverCrash) {
  viscpm::testing::ScratchDir dir("io_race");
  auto path = dir.path / "model.pt";
  auto tensors = sample_tensors();
  viscpm::io::save_torch_zip(path, tensors);
  auto size = std::filesystem::file_size(path);
  std::ifstream in(path, std::ios::binary);
  std::string pristine((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::atomic<bool> stop{false};
  std::thread writer([&] {  // rewrites the file in place, through shorter states, again and again
    for (int round = 0; !stop; ++round) {
      std::filesystem::resize_file(path, (size * (round % 7)) / 8);
      std::ofstream(path, std::ios::binary | std::ios::in).write(pristine.data(), std::streamsize(pristine.size()));
      std::this_thread::sleep_for(std::chrono::milliseconds(3 * (round % 3)));  // room for whole reads too
    }
  });
  int complete = 0, refused = 0;
  for (int i = 0; i < 300; ++i) {
    try {
      auto source = TensorSource::open(path);
      for (const auto& e : source->entries()) {
        at::Tensor t = source->read(e);
        EXPECT_EQ(t.numel(), 262144);
      }
      ++complete;
    } catch (const viscpm::Error&) {  // IoError (changed on disk) or FormatError (opened mid-rewrite)
      ++refused;
    }
  }
  stop = true;
  writer.join();
  EXPECT_EQ(complete + refused, 300);
  EXPECT_GT(refused, 0) << "the writer never raced a reader: the test proves nothing";
  RecordProperty("complete", complete);
  RecordProperty("refused", refused);
}

}  // namespace
