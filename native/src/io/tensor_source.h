// Checkpoint I/O: lazy, streaming readers for the two weight formats VisCPM ships in
// (torch.save zip archives and safetensors), plus strict loading into modules.
//
// A TensorSource only parses the index (pickle / JSON header) when opened; tensor bytes
// are read one tensor at a time (pread, see io/file_reader.h), converted to the requested
// dtype and placed on the requested device, so a checkpoint never sits twice in host memory.
// Every malformed input raises viscpm::FormatError naming the file and the problem
// (messages are printable UTF-8). A source is immutable after open(): read()/read_into()
// may be called from several threads at once. A tensor in its stored dtype is read straight
// into its destination; conversions go through a bounded staging buffer, so reading a 20 GB
// file keeps the resident set near the size of the tensors the caller keeps. A file
// rewritten or truncated in place while open gives IoError ("changed on disk while
// open"), never a signal. Linux/POSIX (pread).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace viscpm::nn { class Module; }

namespace viscpm::io {

// Most dimensions a tensor may have (the C API's VISCPM_MAX_DIMS; torch allows 64, no model
// comes near 16). A file declaring more is Unsupported, at open time.
constexpr size_t kMaxTensorRank = 16;

// One tensor as the file declares it. Sizes, strides and offsets are in elements.
struct TensorEntry {
  std::string name;
  at::ScalarType dtype = at::kFloat;  // stored dtype
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;       // safetensors: always contiguous strides
  int64_t storage_offset = 0;
  std::string storage_key;            // torch zip: "data/<key>" record; safetensors: the name
  int64_t numel() const;
  int64_t nbytes() const;             // numel * element size (the logical tensor, not the storage)
  bool contiguous() const;
};

enum class SourceFormat { kTorchZip, kSafetensors };

// Extension: how strictly open()/read() check the file.
struct OpenOptions {
  // Check each zip record's CRC-32 (the pickle when opening, a storage the first time one
  // of its tensors is read). Costs one pass over the bytes (~1 GB/s per core, spread over
  // ATen's intra-op threads); records written with CRC 0 (torch's compute_crc32=False)
  // are not checked.
  bool verify_checksums = true;
};

class TensorSource {
 public:
  // Detects the format from the first bytes (ZIP signature / safetensors header).
  // Throws NotFound when the file is missing, FormatError when it is not a valid checkpoint.
  // Throws Unsupported for legacy (pre-1.6, non-zip) torch files.
  static std::unique_ptr<TensorSource> open(const std::filesystem::path& path,
                                            const OpenOptions& options = {});
  virtual ~TensorSource() = default;

  virtual SourceFormat format() const = 0;
  // Extension: "OrderedDict" / "dict" (the pickled top-level type) or "safetensors".
  virtual std::string container_type() const = 0;
  const std::filesystem::path& path() const { return path_; }
  // Tensors in file order (pickle order / safetensors header order).
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const TensorEntry* find(const std::string& name) const;  // nullptr if absent
  const TensorEntry& at(const std::string& name) const;    // FormatError if absent

  // Materialises one tensor: a fresh, contiguous tensor owning its memory, in the stored
  // dtype unless `dtype` is given (converted round-to-nearest-even), on `device`.
  virtual at::Tensor read(const TensorEntry& entry, std::optional<at::ScalarType> dtype = std::nullopt,
                          at::Device device = at::kCPU) const = 0;
  at::Tensor read(const std::string& name, std::optional<at::ScalarType> dtype = std::nullopt,
                  at::Device device = at::kCPU) const {
    return read(at(name), dtype, device);
  }
  // Extension: copies one tensor straight from the file into `target` (same shape; any
  // dtype/device, converted as Tensor::copy_ does), without an intermediate host copy.
  // FormatError on a shape mismatch. Thread-safe, like read().
  virtual void read_into(const TensorEntry& entry, at::Tensor& target) const = 0;

 protected:
  explicit TensorSource(std::filesystem::path path) : path_(std::move(path)) {}
  // Builds the name index once entries_ is complete (FormatError on a duplicate name).
  void index_entries();
  std::filesystem::path path_;
  std::vector<TensorEntry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in entries_
};

// Strict state-dict loading into a viscpm::nn::Module whose parameter/buffer names mirror
// the checkpoint keys under `prefix` (e.g. "llm."). Each target keeps its own dtype and
// device; a missing key, a shape mismatch or a key under `prefix` the module does not
// know raises FormatError naming the key and both shapes. Keys starting with one of
// `ignored_prefixes` (matched against the full checkpoint key, prefix included, e.g.
// "vpm.mim_head.") are skipped on purpose. Keys outside `prefix` are left alone (they
// belong to other modules). Everything is checked before anything is copied, and one
// FormatError lists every problem. Copies run without autograd recording.
//
// int8 targets: a target "<name>" of dtype int8 next to a float32 target "<name>_scale"
// takes either an int8 checkpoint tensor (its scales then come from the checkpoint's
// "<name>_scale") or, when quantize_int8_rows is set, a float one, read in fp32 and
// quantized into both targets (the "_scale" key is then not expected). A float target
// refuses an int8 tensor (FormatError: the checkpoint was quantized).
struct LoadOptions {
  std::string prefix;
  std::vector<std::string> ignored_prefixes;
  bool allow_unknown = false;  // report instead of fail on unknown keys under prefix
  bool check_only = false;     // every check, no copy (the module may live on the meta device)
  // (weight, values_out, scales_out): kernels::quantize_int8_rows, passed in by the model.
  void (*quantize_int8_rows)(const at::Tensor&, at::Tensor&, at::Tensor&) = nullptr;
};
struct LoadReport {
  std::vector<std::string> loaded;
  std::vector<std::string> ignored;
  std::vector<std::string> unknown;
};
LoadReport load_module(viscpm::nn::Module& module, const TensorSource& source, const LoadOptions& options);

// Writers, used by the demo (tiny random models saved in the real formats) and tests.
// torch.save-compatible zip (protocol-2 pickle of an OrderedDict, one storage per tensor).
void save_torch_zip(const std::filesystem::path& path,
                    const std::vector<std::pair<std::string, at::Tensor>>& tensors);
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata = {});

// The same file written one tensor at a time: the header comes from `specs` (name, dtype,
// shape), then produce(i) gives tensor i (checked against its spec) and may be freed once
// written, so a checkpoint larger than memory can be converted. Writes "<path>.partial"
// and renames it, as save_safetensors.
struct TensorSpec {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
};
void save_safetensors_streamed(const std::filesystem::path& path, const std::vector<TensorSpec>& specs,
                               const std::function<at::Tensor(size_t)>& produce,
                               const std::vector<std::pair<std::string, std::string>>& metadata = {});

// Whole-file helper for small files (fixtures): every tensor, stored dtype, CPU.
std::vector<std::pair<std::string, at::Tensor>> read_all(const std::filesystem::path& path);

}  // namespace viscpm::io
