// save_torch_zip / save_safetensors. Both write to "<path>.partial" and rename, so a
// failed write never leaves a half-written checkpoint under the real name.
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "common/error.h"
#include "io/dtypes.h"
#include "io/state_dict_pickle.h"
#include "io/tensor_source.h"
#include "io/writers_internal.h"
#include "io/zip_archive.h"

namespace viscpm::io {

namespace {

std::filesystem::path partial_path(const std::filesystem::path& path) {
  return path.string() + ".partial";
}

void commit(const std::filesystem::path& partial, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    std::filesystem::remove(partial, ec);
    throw IoError("cannot move " + partial.string() + " to " + path.string() + ": " + ec.message());
  }
}

// A contiguous CPU copy (or the tensor itself when it already is one).
at::Tensor host_contiguous(const std::string& name, const at::Tensor& t) {
  if (!t.defined()) throw InvalidArgument("tensor '" + name + "' is undefined");
  return t.detach().to(at::kCPU).contiguous();
}

void check_names(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::unordered_set<std::string> names;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) throw InvalidArgument("tensor names must not be empty");
    if (!names.insert(name).second) throw InvalidArgument("tensor name '" + name + "' appears twice");
  }
}

// Removes the partial file unless the write got to the rename.
struct PartialFile {
  std::filesystem::path path;
  bool done = false;
  ~PartialFile() {
    if (!done) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  }
};

}  // namespace

void save_torch_zip_with(const std::filesystem::path& path,
                         const std::vector<std::pair<std::string, at::Tensor>>& tensors, bool force_zip64) {
  check_names(tensors);
  std::vector<std::string> names;
  std::vector<at::ScalarType> dtypes;
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw InvalidArgument("tensor '" + name + "' is undefined");
    if (!torch_storage_name(t.scalar_type()))
      throw InvalidArgument("torch.save archives cannot hold " + python_dtype_name(t.scalar_type()) + " tensors ('" + name + "')");
    names.push_back(name);
    dtypes.push_back(t.scalar_type());
    shapes.push_back(t.sizes().vec());
  }
  // torch names the archive folder after the file stem.
  std::string folder = path.stem().string();
  if (folder.empty() || folder.find_first_of("/\\") != std::string::npos) folder = "archive";
  std::string pickle = write_state_dict_pickle(names, dtypes, shapes);

  PartialFile partial{partial_path(path)};
  ZipWriter zip(partial.path.string(), force_zip64);
  zip.add(folder + "/data.pkl", pickle.data(), pickle.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    at::Tensor data = host_contiguous(names[i], tensors[i].second);
    zip.add(folder + "/data/" + std::to_string(i), data.data_ptr(), data.numel() * data.element_size());
  }
  zip.add(folder + "/version", "3\n", 2);
  zip.finish();
  commit(partial.path, path);
  partial.done = true;
}

void save_torch_zip(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  save_torch_zip_with(path, tensors, /*force_zip64=*/false);
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata) {
  check_names(tensors);
  std::vector<TensorSpec> specs;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw InvalidArgument("tensor '" + name + "' is undefined");
    specs.push_back({name, t.scalar_type(), t.sizes().vec()});
  }
  save_safetensors_streamed(path, specs, [&](size_t i) { return tensors[i].second; }, metadata);
}

void save_safetensors_streamed(const std::filesystem::path& path, const std::vector<TensorSpec>& specs,
                               const std::function<at::Tensor(size_t)>& produce,
                               const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::unordered_set<std::string> names;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const auto& spec : specs) {
    if (spec.name.empty()) throw InvalidArgument("tensor names must not be empty");
    if (!names.insert(spec.name).second) throw InvalidArgument("tensor name '" + spec.name + "' appears twice");
    if (spec.name == "__metadata__") throw InvalidArgument("'__metadata__' cannot name a tensor");
    auto code = safetensors_name(spec.dtype);
    if (!code) throw InvalidArgument("safetensors cannot hold " + python_dtype_name(spec.dtype) + " tensors ('" + spec.name + "')");
    uint64_t numel = 1;
    for (int64_t d : spec.shape) numel *= static_cast<uint64_t>(d);
    const uint64_t nbytes = numel * c10::elementSize(spec.dtype);
    header[spec.name] = {{"dtype", *code}, {"shape", spec.shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned

  PartialFile partial{partial_path(path)};
  std::ofstream out(partial.path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError("cannot create " + partial.path.string() + ": " + std::strerror(errno));
  auto write = [&](const void* p, uint64_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      auto chunk = static_cast<std::streamsize>(std::min<uint64_t>(n, uint64_t(1) << 30));
      out.write(c, chunk);
      if (!out) throw IoError("cannot write " + partial.path.string() + ": " + std::strerror(errno));
      c += chunk;
      n -= uint64_t(chunk);
    }
  };
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xFF);
  write(length, 8);
  write(text.data(), text.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    at::Tensor data = host_contiguous(specs[i].name, produce(i));
    if (data.scalar_type() != specs[i].dtype || data.sizes() != at::IntArrayRef(specs[i].shape))
      throw InvalidArgument("tensor '" + specs[i].name + "' does not match its declared dtype and shape");
    write(data.data_ptr(), data.numel() * data.element_size());
  }
  out.close();
  if (!out) throw IoError("cannot finish writing " + partial.path.string() + ": " + std::strerror(errno));
  commit(partial.path, path);
  partial.done = true;
}

}  // namespace viscpm::io
